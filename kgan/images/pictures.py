"""Turning generator output into pictures: pixel conversion, grids, PNG files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from kgan.files import write_bytes_atomic

GRID_PADDING = 2


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Map tanh images in [-1, 1] to uint8 pixels, rounding to nearest."""
    scaled = (np.asarray(images, dtype=np.float32) + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_pil(image: np.ndarray) -> Image.Image:
    """A uint8 (H, W, 1) or (H, W, 3) array as a Pillow image ('L' or 'RGB')."""
    return Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = GRID_PADDING) -> np.ndarray:
    """Tile uint8 images (N, H, W, C) into one image, row by row, on a dark background."""
    count, height, width, channels = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels),
        32,
        dtype=np.uint8,
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def png_bytes(image: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """Encode a uint8 image as PNG, with optional text chunks."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    to_pil(image).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def save_png(path: Path, image: np.ndarray, text: dict[str, str] | None = None) -> None:
    """Write a uint8 image as a PNG file, atomically."""
    write_bytes_atomic(Path(path), png_bytes(image, text))

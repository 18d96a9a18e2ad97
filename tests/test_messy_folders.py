"""Messy folders: every format and mode, odd sizes, and every reason a file is skipped."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from kgan.errors import DataError
from kgan.images.folders import list_files, load_image_folder


def _gradient(size=(32, 24)) -> Image.Image:
    width, height = size
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[..., 0] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    array[..., 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    array[..., 2] = 128
    return Image.fromarray(array, "RGB")


def _write_every_format(folder):
    folder.mkdir(parents=True)
    rgb = _gradient()
    rgb.save(folder / "plain.png")
    rgb.save(folder / "photo.jpg", quality=90)
    rgb.save(folder / "progressive.jpg", progressive=True, quality=90)
    rgb.convert("CMYK").save(folder / "cmyk.jpg")
    rgb.save(folder / "picture.bmp")
    rgb.save(folder / "picture.webp")
    rgb.save(folder / "picture.tiff")
    frames = [rgb, rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])
    rgb.convert("1").save(folder / "one-bit.png")
    rgb.convert("L").save(folder / "gray.png")
    rgb.convert("LA").save(folder / "gray-alpha.png")
    rgb.convert("P").save(folder / "palette.png")
    rgb.convert("RGBA").save(folder / "rgba.png")
    Image.fromarray((np.arange(32 * 24).reshape(24, 32) * 80).astype(np.uint16)).save(folder / "sixteen.png")
    Image.fromarray(np.linspace(0, 1, 32 * 24, dtype=np.float32).reshape(24, 32), "F").save(folder / "float.tiff")
    rgb.save(folder / "really-a-png.jpg", format="PNG")  # read by content, not by name


def test_every_format_and_mode_is_read(tmp_path):
    folder = tmp_path / "formats"
    _write_every_format(folder)
    loaded = load_image_folder(folder, resolution=16)
    assert loaded.skipped == []
    assert len(loaded.files) == 16
    assert loaded.channels == 3 and loaded.images.shape == (16, 16, 16, 3)
    with Image.open(folder / "sixteen.png") as image:
        assert image.mode.startswith("I")
    with Image.open(folder / "float.tiff") as image:
        assert image.mode == "F"


def test_sixteen_bit_and_float_images_keep_their_range(tmp_path):
    folder = tmp_path / "deep"
    folder.mkdir()
    ramp16 = np.tile(np.linspace(0, 65535, 32), (32, 1)).astype(np.uint16)
    Image.fromarray(ramp16).save(folder / "ramp16.png")
    images = load_image_folder(folder, resolution=16).images
    assert images.min() < 20 and images.max() > 235


def test_transparent_pixels_become_the_background_not_the_hidden_colour(tmp_path):
    folder = tmp_path / "alpha"
    folder.mkdir()
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # pure red hidden under alpha 0 everywhere ...
    rgba[4:12, 4:12] = (0, 0, 255, 255)  # ... except an opaque blue square
    Image.fromarray(rgba, "RGBA").save(folder / "sprite.png")
    palette = Image.fromarray(rgba, "RGBA").convert("P")
    palette.info["transparency"] = palette.getpixel((0, 0))
    palette.save(folder / "sprite-palette.png", transparency=palette.getpixel((0, 0)))
    white = load_image_folder(folder, resolution=16).images
    assert white.shape[-1] == 3
    assert tuple(white[0, 0, 0]) == (255, 255, 255) and tuple(white[1, 0, 0]) == (255, 255, 255)
    assert tuple(white[0, 8, 8]) == (0, 0, 255)
    black = load_image_folder(folder, resolution=16, background="black").images
    assert tuple(black[0, 0, 0]) == (0, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    folder = tmp_path / "exif"
    folder.mkdir()
    array = np.zeros((16, 32), dtype=np.uint8)
    array[:, :16] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180 degrees for display: the white half is on the right
    Image.fromarray(array).save(folder / "rotated.jpg", exif=exif, quality=95)
    image = load_image_folder(folder, resolution=16, fit="pad", background="black").images[0, ..., 0]
    assert image[8, 12:].mean() > 200 and image[8, :4].mean() < 50


@pytest.mark.parametrize("size", [(1, 1), (400, 12), (12, 400), (3, 7)])
def test_any_size_and_aspect_ratio_works(tmp_path, size):
    folder = tmp_path / "odd"
    folder.mkdir()
    _gradient(size).save(folder / "odd.png")
    for fit in ("crop", "pad"):
        assert load_image_folder(folder, resolution=16, fit=fit).images.shape[1:3] == (16, 16)


def test_hidden_files_and_macos_debris_are_ignored(tmp_path):
    folder = tmp_path / "mac"
    (folder / "__MACOSX").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    _gradient().save(folder / "kept.png")
    _gradient().save(folder / ".hidden" / "secret.png")
    _gradient().save(folder / "__MACOSX" / "._kept.png")
    (folder / "._kept.png").write_bytes(b"\x00\x05\x16\x07AppleDouble")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    assert [p.name for p in list_files(folder)] == ["kept.png"]


def test_symlinked_folders_are_followed_once_without_looping(tmp_path):
    folder = tmp_path / "linked"
    (folder / "real").mkdir(parents=True)
    _gradient().save(folder / "real" / "one.png")
    os.symlink(folder, folder / "real" / "loop")  # points back up the tree
    outside = tmp_path / "outside"
    outside.mkdir()
    _gradient().save(outside / "two.png")
    os.symlink(outside, folder / "elsewhere")
    names = sorted(p.name for p in list_files(folder))
    assert names == ["one.png", "two.png"]


def _write_broken_files(folder):
    folder.mkdir(parents=True)
    _gradient().save(folder / "good.png")
    (folder / "empty.jpg").write_bytes(b"")
    buffer = io.BytesIO()
    _gradient((64, 64)).save(buffer, "PNG")
    (folder / "truncated.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    buffer = io.BytesIO()
    _gradient((64, 64)).save(buffer, "JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "notes.txt").write_text("a shopping list")
    (folder / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    # An EPS file Pillow recognises but cannot decode without Ghostscript.
    (folder / "drawing.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n")
    os.symlink(folder / "gone.png", folder / "dangling.png")
    big = Image.new("L", (200, 200))
    big.save(folder / "bomb.png")


def test_unusable_files_are_skipped_by_reason_and_never_fatal(tmp_path, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # 200 x 200 is over Pillow's limit now
    folder = tmp_path / "broken"
    _write_broken_files(folder)
    loaded = load_image_folder(folder, resolution=16)
    assert loaded.files == ["good.png"]
    reasons = {item.path: item.reason for item in loaded.skipped}
    assert reasons["empty.jpg"] == "empty"
    assert reasons["truncated.png"] == "truncated" and reasons["truncated.jpg"] == "truncated"
    assert "notes.txt" not in reasons  # plainly text: passed over, not reported
    assert reasons["fake.png"] in ("unreadable", "truncated", "not an image")
    assert reasons["drawing.eps"] == "unsupported format"
    assert reasons["dangling.png"] == "unreadable"
    assert reasons["bomb.png"] == "decompression bomb"
    assert loaded.summary().startswith("1 images used, 7 skipped (")


def test_a_folder_with_nothing_usable_is_one_error_naming_the_reasons(tmp_path):
    folder = tmp_path / "nothing"
    folder.mkdir()
    (folder / "a.txt").write_text("x")
    (folder / "b.png").write_bytes(b"")
    with pytest.raises(DataError) as error:
        load_image_folder(folder)
    assert "no usable images" in str(error.value) and "1 empty" in str(error.value)


def test_channels_auto_gives_one_only_when_every_image_is_gray(tmp_path):
    folder = tmp_path / "grays"
    folder.mkdir()
    _gradient().convert("L").save(folder / "l.png")
    _gradient().convert("L").convert("RGB").save(folder / "gray-as-rgb.jpg", quality=95)
    assert load_image_folder(folder, resolution=16).channels == 1
    _gradient().save(folder / "colour.png")
    assert load_image_folder(folder, resolution=16).channels == 3

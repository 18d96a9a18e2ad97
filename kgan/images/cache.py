"""Where decoded images go: memory, or a cache file that later runs map straight in.

The cache holds the resized uint8 images of one folder as a raw array file
plus a JSON description, named by a key made from the folder's files (relative
paths, sizes, modification times) and the options that shape the pixels
(resolution, channels, fit, background). A changed, added or removed file
gives a new key. Images are written as they are decoded and read back through
a memory map, so neither the first run nor later ones hold the whole set in
memory at once.

An entry is valid only when its description exists and the array file has the
size and SHA-256 the description records. The array is written under a
temporary name and renamed into place before the description is written, so a
kill during a build leaves nothing that reads as valid; two processes building
the same entry at once each write their own temporary file and the last rename
wins, with identical bytes. A damaged entry is reported and built again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from kgan.files import file_sha256, fsync_folder, write_bytes_atomic

CACHE_FORMAT = 2
CACHE_DIR_VARIABLE = "KGAN_CACHE_DIR"
CHUNK_IMAGES = 1024


def default_cache_dir() -> Path:
    """$KGAN_CACHE_DIR, else $XDG_CACHE_HOME/kgan, else ~/.cache/kgan."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return Path(os.environ[CACHE_DIR_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kgan"


def cache_key(
    fingerprint: str, resolution: int | None, channels: int | None, fit: str, background: str, clips: Any = None
) -> str:
    """The name of a folder's cache entry for these pixel-shaping (and clip-thinning) options."""
    description = json.dumps([CACHE_FORMAT, fingerprint, resolution, channels, fit, background, clips])
    return hashlib.sha256(description.encode()).hexdigest()[:24]


class CacheDamaged(Exception):
    """A cache entry exists but cannot be trusted; the message says why, in a few words."""


def read_cache(cache_dir: Path, key: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """The cached images (memory-mapped, read-only) and their description; None when
    there is no entry; CacheDamaged when there is one whose size or checksum is wrong."""
    meta_path, data_path = cache_dir / f"{key}.json", cache_dir / f"{key}.u8"
    try:
        text = meta_path.read_text(encoding="utf-8")
    except OSError:
        return None  # never built, or a build that did not finish
    try:
        meta = json.loads(text)
        shape = tuple(int(n) for n in meta["shape"])
        expected_digest = str(meta["sha256"])
        if meta.get("format") != CACHE_FORMAT:
            return None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CacheDamaged("its description is damaged") from None
    try:
        size = data_path.stat().st_size
        if size != int(np.prod(shape)):
            raise CacheDamaged(f"its image file has {size:,} bytes, not {int(np.prod(shape)):,}")
        if file_sha256(data_path) != expected_digest:
            raise CacheDamaged("its image file's checksum does not match")
        return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape), meta
    except FileNotFoundError:
        raise CacheDamaged("its image file is missing") from None
    except OSError as error:
        raise CacheDamaged(f"its image file cannot be read ({error.strerror or error})") from None


def discard_entry(cache_dir: Path, key: str) -> None:
    """Remove an entry's description (first, so it stops reading as valid) and its images."""
    for name in (f"{key}.json", f"{key}.u8"):
        try:
            (cache_dir / name).unlink()
        except OSError:
            pass


def remove_stale_temporaries(cache_dir: Path) -> None:
    """Delete temporary files left by builds whose process no longer runs (killed mid-build)."""
    try:
        leftovers = list(cache_dir.glob(".*.tmp-*"))
    except OSError:
        return
    for path in leftovers:
        pid = path.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _process_exists(int(pid)):
            path.unlink(missing_ok=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists but belongs to someone else
    return True


class MemorySink:
    """Collects decoded images in memory (no cache)."""

    def __init__(self) -> None:
        self._images: list[np.ndarray] = []

    def add(self, image: np.ndarray) -> None:
        self._images.append(image)

    def finish(self, gray: bool) -> np.ndarray:
        stacked = np.stack(self._images)
        return to_gray(stacked) if gray else stacked

    def abandon(self) -> None:
        self._images.clear()


class CacheSink:
    """Writes decoded RGB images straight to a cache file, then maps it back in."""

    def __init__(self, cache_dir: Path, key: str, resolution: int):
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir, self.key, self.resolution = cache_dir, key, resolution
        self._temporary = cache_dir / f".{key}.rgb.tmp-{os.getpid()}"
        self._gray_temporary: Path | None = None
        remove_stale_temporaries(cache_dir)
        self._stream = open(self._temporary, "wb")
        self._digest = hashlib.sha256()
        self.count = 0

    def add(self, image: np.ndarray) -> None:
        data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
        self._stream.write(data)
        self._digest.update(data)
        self.count += 1

    def finish(self, gray: bool) -> np.ndarray:
        self._stream.close()
        side = self.resolution
        shape = (self.count, side, side, 3)
        source = self._temporary
        if gray:
            # Convert a chunk at a time, so memory stays bounded.
            rgb = np.memmap(source, dtype=np.uint8, mode="r", shape=shape)
            source = self._gray_temporary = self.cache_dir / f".{self.key}.gray.tmp-{os.getpid()}"
            self._digest = hashlib.sha256()
            with open(source, "wb") as stream:
                for start in range(0, self.count, CHUNK_IMAGES):
                    data = to_gray(np.asarray(rgb[start : start + CHUNK_IMAGES])).tobytes()
                    stream.write(data)
                    self._digest.update(data)
            del rgb
            self._temporary.unlink()
            shape = (self.count, side, side, 1)
        with open(source, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(source, self.cache_dir / f"{self.key}.u8")
        fsync_folder(self.cache_dir)
        self.shape = shape
        return np.memmap(self.cache_dir / f"{self.key}.u8", dtype=np.uint8, mode="r", shape=shape)

    def describe(self, meta: dict[str, Any]) -> None:
        """Write the description last: an entry without one is never read."""
        record = {"format": CACHE_FORMAT, "shape": list(self.shape), "sha256": self._digest.hexdigest(), **meta}
        write_bytes_atomic(self.cache_dir / f"{self.key}.json", json.dumps(record).encode("utf-8"))

    def abandon(self) -> None:
        self._stream.close()
        for temporary in (self._temporary, self._gray_temporary):
            if temporary is not None:
                temporary.unlink(missing_ok=True)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 images to one luminance channel (ITU-R 601 weights)."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.rint(rgb.astype(np.float32) @ weights).clip(0, 255).astype(np.uint8)[..., None]

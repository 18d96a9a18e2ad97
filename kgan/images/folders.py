"""Reading a folder of images into one array the trainer can use.

Any folder works: it is searched recursively, files are recognised by their
content rather than their extension, every Pillow mode is brought to 8-bit
grayscale or RGB, and each image is resized and centre-cropped (or padded) to a
square. Files that cannot be used are skipped and counted by reason; only a
folder with nothing usable in it is an error. Files that are plainly not images,
by name and by content (a licence, a readme, a script: text under a name that
no image format claims), are passed over without a report.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from kgan.errors import DataError
from kgan.images.cache import (
    CHUNK_IMAGES,
    CacheDamaged,
    CacheSink,
    MemorySink,
    cache_key,
    discard_entry,
    read_cache,
    to_gray,
)
from kgan.images.clips import VIDEO_SUFFIXES, ClipPolicy, ClipReader, clip_kind, video_size
from kgan.images.resolution import auto_resolution

# Why a file was skipped; these words appear in the report and the run folder.
EMPTY = "empty"
TRUNCATED = "truncated"
NOT_AN_IMAGE = "not an image"
UNSUPPORTED = "unsupported format"
TOO_LARGE = "decompression bomb"
UNREADABLE = "unreadable"
# Not a skip: a text file under a name no image format claims, passed over silently.
TEXT_FILE = "text file"
TEXT_SNIFF_BYTES = 8192

BACKGROUNDS = {"white": 255, "black": 0}
FITS = ("crop", "pad")
# JPEG photos stored as RGB often carry a little colour noise; a pixel whose
# channels differ by no more than this still counts as gray.
GRAY_TOLERANCE = 3
IGNORED_NAMES = {"__MACOSX", "__pycache__", "Thumbs.db", "desktop.ini"}


@dataclass
class SkippedFile:
    """A file that was not used, and why."""

    path: str
    reason: str


@dataclass
class ImageFolder:
    """The usable images of a folder, as uint8 arrays of shape (N, H, W, C)."""

    root: Path
    images: np.ndarray
    files: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    fingerprint: str = ""
    # "read" (from the data cache), "written" (to it), "rebuilt (why)", "off", or why it is unavailable.
    cache: str = "off"
    # Frames kept from each video clip or animation, by relative path.
    videos: dict[str, int] = field(default_factory=dict)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    @property
    def channels(self) -> int:
        return int(self.images.shape[3])

    def skip_counts(self) -> dict[str, int]:
        """How many files were skipped for each reason."""
        return dict(Counter(item.reason for item in self.skipped).most_common())

    def summary(self) -> str:
        """One line such as '6000 images used, 2 skipped (1 empty, 1 truncated)'."""
        line = f"{len(self.files)} images used"
        if self.videos:
            clips = len(self.videos)
            line += f" ({sum(self.videos.values())} frames from {clips} clip{'s' if clips > 1 else ''})"
        line += f", {len(self.skipped)} skipped"
        counts = self.skip_counts()
        if counts:
            line += " (" + ", ".join(f"{n} {reason}" for reason, n in counts.items()) + ")"
        return line


class _Skip(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def list_files(root: Path) -> list[Path]:
    """Every candidate file under ``root``, sorted, hidden ones left out.

    Symbolic links to folders are followed, each real folder once, so a link
    that points back up the tree cannot loop.
    """
    if root.is_file():
        return [root]
    found: list[Path] = []
    seen_folders: set[str] = set()

    def walk(folder: Path) -> Iterator[Path]:
        real = os.path.realpath(folder)
        if real in seen_folders:
            return
        seen_folders.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=True):
                    yield from walk(path)
                elif entry.is_file(follow_symlinks=True) or entry.is_symlink():
                    # A broken link is listed so that it is reported as unreadable.
                    yield path
            except OSError:
                yield path

    found.extend(walk(root))
    return found


def folder_fingerprint(root: Path, files: list[Path]) -> str:
    """A short hash of the files' relative paths, sizes and modification times."""
    digest = hashlib.sha256()
    for path in files:
        try:
            stat = path.stat()
            size, mtime = stat.st_size, stat.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        digest.update(f"{_relative(path, root)}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()[:16]


def _relative(path: Path, root: Path) -> str:
    if root.is_file():
        return path.name
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _open(path: Path) -> Image.Image:
    """Open an image by its content, or raise _Skip with the reason."""
    try:
        if path.stat().st_size == 0:
            raise _Skip(EMPTY)
        image = Image.open(path)
    except _Skip:
        raise
    except UnidentifiedImageError:
        raise _Skip(TEXT_FILE if _plainly_text(path) else NOT_AN_IMAGE) from None
    except Image.DecompressionBombError:
        raise _Skip(TOO_LARGE) from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise _Skip(_reason_for(error)) from None
    width, height = image.size
    if Image.MAX_IMAGE_PIXELS and width * height > Image.MAX_IMAGE_PIXELS:
        image.close()
        raise _Skip(TOO_LARGE)
    if width < 1 or height < 1:
        image.close()
        raise _Skip(UNREADABLE)
    return image


def _plainly_text(path: Path) -> bool:
    """True for a file whose name no image or video format claims and whose start is UTF-8 text."""
    if path.suffix.lower() in _image_suffixes():
        return False
    try:
        with open(path, "rb") as stream:
            head = stream.read(TEXT_SNIFF_BYTES)
    except OSError:
        return False
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the sniff window is still text.
        return error.start >= len(head) - 3
    return True


@lru_cache(maxsize=1)
def _image_suffixes() -> frozenset[str]:
    Image.init()
    return frozenset(Image.registered_extensions()) | VIDEO_SUFFIXES


def _shorter_side(path: Path) -> int | None:
    if clip_kind(path) == "video":
        size = video_size(path)
        return min(size) if size else None
    try:
        with _open(path) as image:
            return min(image.size)
    except _Skip:
        return None


def _to_8bit(image: Image.Image) -> Image.Image:
    """Bring 16-bit, 32-bit integer and float images to 8-bit grayscale."""
    array = np.asarray(image)
    if image.mode == "F":
        scale = 255.0 if array.size and float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.nan_to_num(array * scale)
    elif array.size and int(array.max()) > 255:
        array = array / 257.0
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))


def _flatten(image: Image.Image, background: int) -> Image.Image:
    """Return an 'L' or 'RGB' image with any transparency composited onto the background."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("1", "L"):
        return image if image.mode == "L" else image.convert("L")
    if image.mode == "LA" or image.mode == "La":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGBA", image.size, (background, background, background, 255))
        flat.alpha_composite(image)
        return flat.convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


_TRUNCATION_WORDS = ("truncated", "broken data stream", "premature end", "unexpected end", "end of file")
_UNSUPPORTED_WORDS = ("decoder", "not supported", "unsupported", "unknown", "ghostscript", "cannot identify mode")


def _reason_for(error: Exception) -> str:
    """Classify a decoding failure of a file Pillow recognised."""
    message = str(error).lower()
    if isinstance(error, EOFError) or any(word in message for word in _TRUNCATION_WORDS):
        return TRUNCATED
    if any(word in message for word in _UNSUPPORTED_WORDS):
        return UNSUPPORTED
    return UNREADABLE


def _read_flat(path: Path, background: int, draft_side: int | None = None) -> Image.Image:
    """Open and fully decode one file as an 'L' or 'RGB' image, upright, or raise _Skip."""
    image = _open(path)
    try:
        if draft_side and image.format == "JPEG":
            # Let libjpeg decode at a reduced scale that still covers the target.
            image.draft(image.mode, (draft_side, draft_side))
        image.seek(0)  # the first frame of a GIF, WebP or TIFF
        image.load()
        ImageOps.exif_transpose(image, in_place=True)
        return _flatten(image, background)
    except _Skip:
        raise
    except Image.DecompressionBombError:
        raise _Skip(TOO_LARGE) from None
    except NotImplementedError:
        raise _Skip(UNSUPPORTED) from None
    except (OSError, SyntaxError, ValueError, EOFError, KeyError, IndexError, TypeError, MemoryError) as error:
        raise _Skip(_reason_for(error)) from None


def read_image(path: Path, background: str = "white", draft_side: int | None = None) -> Image.Image:
    """One image file of any format and mode as 'L' or 'RGB'; DataError naming the problem otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not an image")
    try:
        return _read_flat(path, BACKGROUNDS[background], draft_side)
    except _Skip as skip:
        raise DataError(f"cannot read {path}: {skip.reason}") from None


def prepare_image(
    path: Path, resolution: int, channels: int, fit: str = "crop", background: str = "white"
) -> np.ndarray:
    """One file as a training image would be: (resolution, resolution, channels) uint8, fitted and
    flattened the same way. DataError naming the problem when the file cannot be used."""
    picture = read_image(path, background, draft_side=resolution)
    rgb = _to_square(picture, resolution, fit, BACKGROUNDS[background])
    return to_gray(rgb[None])[0] if channels == 1 else rgb


def _decode(path: Path, resolution: int, fit: str, background: int) -> np.ndarray:
    """Decode one file into a (resolution, resolution, 3) uint8 array, or raise _Skip."""
    return _to_square(_read_flat(path, background, draft_side=resolution), resolution, fit, background)


def _to_square(image: Image.Image, resolution: int, fit: str, background: int) -> np.ndarray:
    """An 'L' or 'RGB' image cropped (or padded) and resized to a (resolution, resolution, 3) array."""
    size = (resolution, resolution)
    if fit == "pad":
        fill = (background,) * 3 if image.mode == "RGB" else background
        image = ImageOps.pad(image, size, method=Image.Resampling.LANCZOS, color=fill)
    else:
        image = ImageOps.fit(image, size, method=Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _is_gray(rgb: np.ndarray) -> bool:
    spread = rgb.max(axis=-1).astype(np.int16) - rgb.min(axis=-1)
    return int(spread.max()) <= GRAY_TOLERANCE


def load_image_folder(
    root: Path,
    resolution: int | None = None,
    channels: int | None = None,
    fit: str = "crop",
    background: str = "white",
    cache_dir: Path | None = None,
    workers: int | None = None,
    clips: ClipPolicy | None = None,
) -> ImageFolder:
    """Read every usable image under ``root`` (a folder, or one image or video file) into an array.

    ``resolution`` None picks one from the images' sizes; ``channels`` None
    gives 1 when every usable image is gray and 3 otherwise. Video clips and
    animated GIF/WebP files give frames as ``clips`` says (kgan.images.clips). With a
    ``cache_dir`` the decoded images are kept there and later calls on the
    same unchanged files map them back in at once. Raises DataError when the
    folder is missing or nothing in it can be used.
    """
    clips = clips or ClipPolicy()
    root = Path(root)
    cache_dir = Path(cache_dir) if cache_dir is not None else None
    if not root.exists():
        raise DataError(f"{root} does not exist")
    if fit not in FITS:
        raise DataError(f"unknown fit {fit!r}; use one of {', '.join(FITS)}")
    if background not in BACKGROUNDS:
        raise DataError(f"unknown background {background!r}; use one of {', '.join(BACKGROUNDS)}")
    files = list_files(root)
    if not files:
        raise DataError(f"{root} holds no files")
    fingerprint = folder_fingerprint(root, files)
    key = cache_key(fingerprint, resolution, channels, fit, background, (clips.stride, clips.max_frames))
    damage = ""
    if cache_dir is not None:
        try:
            cached = read_cache(cache_dir, key)
        except CacheDamaged as error:
            cached, damage = None, str(error)
            discard_entry(cache_dir, key)
        if cached is not None:
            images, meta = cached
            skipped = [SkippedFile(item["path"], item["reason"]) for item in meta["skipped"]]
            return ImageFolder(root, images, meta["files"], skipped, fingerprint, "read", meta.get("videos", {}))

    with _decoding_pool(len(files), workers) as pool:
        if resolution is None:
            sides = [side for side in pool.map(_shorter_side, files, chunksize=64) if side]
            resolution = auto_resolution(sides)
        sink, cache_state = _open_sink(cache_dir, key, resolution)
        if damage and cache_state == "written":
            cache_state = f"rebuilt (the cached copy was damaged: {damage})"
        try:
            decoded = _Decoded(sink, root, resolution, fit, BACKGROUNDS[background])
            decoded.decode_all(pool, files, clips)
            if not decoded.used:
                reasons = Counter(item.reason for item in decoded.skipped + decoded.passed_over).most_common()
                detail = ", ".join(f"{n} {reason}" for reason, n in reasons)
                raise DataError(f"no usable images in {root} ({len(files)} files: {detail})")
            images = sink.finish(decoded.all_gray if channels is None else channels == 1)
            skipped_json = [vars(item) for item in decoded.skipped]
            if isinstance(sink, CacheSink):
                sink.describe({"files": decoded.used, "skipped": skipped_json, "videos": decoded.videos})
        except OSError as error:
            # The cache could not be written (a full disk, say): decode into memory instead.
            sink.abandon()
            if cache_dir is None:
                raise DataError(f"cannot read {root}: {error.strerror or error}") from None
            unwritable = f"unavailable (cannot write {cache_dir}: {error.strerror or error})"
        except BaseException:
            sink.abandon()
            raise
        else:
            return ImageFolder(root, images, decoded.used, decoded.skipped, fingerprint, cache_state, decoded.videos)
    folder = load_image_folder(root, resolution, channels, fit, background, None, workers, clips)
    folder.cache = unwritable
    return folder


def _open_sink(cache_dir: Path | None, key: str, resolution: int) -> tuple[MemorySink | CacheSink, str]:
    if cache_dir is None:
        return MemorySink(), "off"
    try:
        return CacheSink(cache_dir, key, resolution), "written"
    except OSError as error:
        return MemorySink(), f"unavailable ({error.strerror or error})"


# Above this many files, decoding runs in worker processes: per-image Python work
# holds the GIL, so threads reach barely more than one core.
PROCESS_POOL_MIN_FILES = 2000


def _decoding_pool(file_count: int, workers: int | None) -> Executor:
    """Forked worker processes for large folders, threads otherwise.

    Processes are forked only while TensorFlow is not loaded (as in ``kgan
    train``, which reads its images first): forking a process that runs
    TensorFlow's threads is not safe, and the other start methods would
    re-import the caller's main module.
    """
    cores = os.cpu_count() or 1
    if file_count >= PROCESS_POOL_MIN_FILES and cores > 1 and os.name == "posix" and "tensorflow" not in sys.modules:
        context = multiprocessing.get_context("fork")
        return ProcessPoolExecutor(max_workers=workers or min(cores, 16), mp_context=context)
    return ThreadPoolExecutor(max_workers=workers or min(32, cores + 2))


def _decode_or_skip(path: Path, root: Path, resolution: int, fit: str, background: int) -> np.ndarray | SkippedFile:
    """One still as an array, or the reason it was skipped (a top-level function, for worker processes)."""
    try:
        return _decode(path, resolution, fit, background)
    except _Skip as skip:
        return SkippedFile(_relative(path, root), skip.reason)


@dataclass
class _Decoded:
    """Hands decoded images and clip frames to a sink, and keeps the record of what was used."""

    sink: MemorySink | CacheSink
    root: Path
    resolution: int
    fit: str
    background: int
    used: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    passed_over: list[SkippedFile] = field(default_factory=list)
    videos: dict[str, int] = field(default_factory=dict)
    all_gray: bool = True

    def add(self, image: np.ndarray, name: str) -> None:
        self.sink.add(image)
        self.used.append(name)
        self.all_gray = self.all_gray and _is_gray(image)

    def decode_all(self, pool: Executor, files: list[Path], clips: ClipPolicy) -> None:
        """Stills in parallel, a chunk at a time; clips streamed frame by frame, in file order."""
        decode = partial(_decode_or_skip, root=self.root, resolution=self.resolution, fit=self.fit,
                         background=self.background)  # fmt: skip
        for start in range(0, len(files), CHUNK_IMAGES):
            chunk = files[start : start + CHUNK_IMAGES]
            kinds = [clip_kind(path) for path in chunk]
            still_paths = [path for path, kind in zip(chunk, kinds) if kind is None]
            stills = iter(pool.map(decode, still_paths, chunksize=max(1, len(still_paths) // 32)))
            for path, kind in zip(chunk, kinds):
                if kind is not None:
                    self._add_clip(path, kind, clips)
                    continue
                result = next(stills)
                if isinstance(result, SkippedFile):
                    (self.passed_over if result.reason == TEXT_FILE else self.skipped).append(result)
                else:
                    self.add(result, _relative(path, self.root))

    def _add_clip(self, path: Path, kind: str, clips: ClipPolicy) -> None:
        name = _relative(path, self.root)
        reader = ClipReader(path, kind, clips, max_side=2 * self.resolution)
        for index, frame in enumerate(reader.frames()):
            try:
                flat = _flatten(frame, self.background)
            except (OSError, ValueError):
                continue
            self.add(_to_square(flat, self.resolution, self.fit, self.background), f"{name}#{index}")
        if reader.kept:
            self.videos[name] = reader.kept
        if reader.reason:
            # A clip cut short keeps its frames and is reported all the same.
            self.skipped.append(SkippedFile(name, reader.reason))

"""Reading and writing the files kgan keeps, safely: one helper for each kind of file.

Writers are atomic: the bytes go to a temporary file beside the target, are
flushed to disk, and the file is renamed into place, so a kill or a full disk
leaves either the old file or the new one, never half of one. Readers of JSON
Lines skip a last line cut short by a kill. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from kgan.errors import RunError

HASH_BLOCK_BYTES = 1 << 20
Written = TypeVar("Written")


@dataclass(frozen=True)
class Numbered:
    """An output named ``folder/<stem>-NNN<suffix>`` with the first number free when it is written."""

    folder: Path
    stem: str
    suffix: str

    def path(self, number: int) -> Path:
        return self.folder / f"{self.stem}-{number:03d}{self.suffix}"


def publish_file(target: Path | Numbered, write: Callable[[Path], Written]) -> tuple[Path, Written]:
    """Write a file through ``write(temporary_path)``, then put it in place in one step.

    A ``Path`` target is replaced atomically. A ``Numbered`` target is linked
    to the first free number, which fails rather than overwrites when two
    commands finish at once, so each gets its own name; nothing is reserved
    early, so a kill or a failed write leaves no file under the final name.
    ``write`` may raise; the temporary file is removed and an OSError becomes
    one RunError naming the file. Returns the final path and what ``write`` returned.
    """
    numbered = isinstance(target, Numbered)
    if numbered:
        folder, stem, suffix = target.folder, target.stem, target.suffix
        shown = folder / f"{stem}-NNN{suffix}"
    else:
        shown = Path(target)
        folder, stem, suffix = shown.parent, shown.stem, shown.suffix
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create {folder}: {error.strerror or error}") from None
    # The suffix stays last: writers such as ffmpeg choose the format by it.
    temporary = folder / f".{stem}.tmp-{_unique()}{suffix}"
    try:
        result = write(temporary)
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        if numbered:
            final = _link_numbered(temporary, target)
        else:
            final = shown
            os.replace(temporary, final)
    except OSError as error:
        raise RunError(f"cannot write {shown}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)
    fsync_folder(folder)
    return final, result


def _link_numbered(temporary: Path, target: Numbered) -> Path:
    number = 1
    while True:
        final = target.path(number)
        try:
            os.link(temporary, final)
            return final
        except FileExistsError:
            number += 1
        except OSError:
            # A file system without hard links: claim the name exclusively, then fill it.
            try:
                descriptor = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                number += 1
                continue
            os.close(descriptor)
            os.replace(temporary, final)
            return final


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{_unique()}")
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {error.strerror or error}") from None
    fsync_folder(path.parent)


def _unique() -> str:
    """A temporary file's tag: this process and thread, so concurrent writers never share one."""
    return f"{os.getpid()}-{threading.get_ident():x}"


def write_json_atomic(path: Path, value: Any) -> None:
    """Write a JSON document (indented, keys sorted) atomically."""
    write_bytes_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_array_atomic(path: Path, array: np.ndarray) -> None:
    """Write a NumPy array as a .npy file (no pickles) atomically."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from a file, or raise RunError naming the file."""
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise RunError(f"{path} is damaged (not valid JSON: {error.msg} at line {error.lineno})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path} is damaged (expected a JSON object)")
    return value


def read_json_list(path: Path) -> list[Any]:
    """A JSON list from a file; an empty list when the file is missing or not a list."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return value if isinstance(value, list) else []


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON Lines file, one per line; lines cut short by a kill are skipped."""
    try:
        stream = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return
    with stream:
        for line in stream:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def last_jsonl_record(path: Path, tail_bytes: int = 4096) -> dict[str, Any] | None:
    """The last complete JSON object of a (possibly long) JSON Lines file, reading only its end."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - tail_bytes))
            lines = stream.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return None


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Add one JSON line to a file (a kill can only cut the last line short, which readers skip)."""
    try:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\n")
    except OSError as error:
        raise RunError(f"cannot write {path}: {error.strerror or error}") from None


def file_sha256(path: Path, sync: bool = False) -> str:
    """The SHA-256 of a file's bytes, read a block at a time; ``sync`` also flushes it to disk."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(HASH_BLOCK_BYTES), b""):
            digest.update(block)
        if sync:
            os.fsync(stream.fileno())
    return digest.hexdigest()

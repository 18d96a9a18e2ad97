"""Where kgan finds the data set it ships with."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the kgan package
# Installed, the data set sits inside the package (kgan/data); in a source
# checkout it is the top-level data/ folder beside the package.
_CANDIDATES = (_PACKAGE_DIR / "data", _PACKAGE_DIR.parent / "data")


def embedded_data_dir() -> Path | None:
    """The embedded Fashion-MNIST subset, or None when this install lacks it."""
    for candidate in _CANDIDATES:
        if (candidate / "LICENSE").is_file() and (candidate / "trouser").is_dir():
            return candidate
    return None

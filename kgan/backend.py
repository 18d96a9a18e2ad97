"""Loading Keras and TensorFlow quietly, once, only when a command needs them.

TensorFlow writes a page of C++ start-up notices to stderr on import; a user
of a command-line tool should not have to read them. They are hidden by
pointing the process's stderr at /dev/null while the import runs (the notices
are written before TensorFlow reads TF_CPP_MIN_LOG_LEVEL). Errors during the
import still surface as the Python exception.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def keras_module() -> ModuleType:
    """Import and return keras on the TensorFlow backend, without start-up noise."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        return sys.modules["keras"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _native_stderr_silenced():
        import keras
        import tensorflow  # noqa: F401
    return keras


def tensorflow_module() -> ModuleType:
    """Import and return tensorflow, without start-up noise."""
    keras_module()
    return sys.modules["tensorflow"]


def versions() -> dict[str, str]:
    """The Keras and TensorFlow versions, for a run's config.json."""
    return {"keras_version": keras_module().__version__, "tensorflow_version": tensorflow_module().__version__}

"""Generator inputs kept in files, and the truncation trick.

A latent file (``.npy``) holds whole generator inputs, one row per picture:
the noise followed by the run's codes (class label or InfoGAN codes), so a
conditional picture keeps its class. ``kgan project`` writes them; ``kgan
sample --latents`` and ``kgan video --latents`` read them.

Truncation moves the noise toward the average input (zero, the mean of the
normal distribution G was trained on) by the factor ``psi``: typical-looking
pictures at ``psi`` below 1, at some cost in variety. Codes are left alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgan.errors import OptionError
from kgan.files import write_array_atomic


def check_truncation(psi: float | None) -> None:
    """Raise OptionError unless psi is None or in (0, 1]."""
    if psi is not None and not 0 < psi <= 1:
        raise OptionError(f"--truncation must be above 0 and at most 1, not {psi}")


def truncate(inputs: np.ndarray, latent_dim: int, psi: float | None) -> np.ndarray:
    """Generator inputs with their noise (the first ``latent_dim`` numbers) scaled by psi; codes unchanged.

    ``psi`` None or 1 returns the inputs themselves, so truncation 1 is exactly no truncation.
    """
    check_truncation(psi)
    if psi is None or psi == 1:
        return inputs
    truncated = np.array(inputs, dtype=np.float32, copy=True)
    truncated[..., :latent_dim] *= np.float32(psi)
    return truncated


def save_latents(path: Path, inputs: np.ndarray) -> None:
    """Write generator inputs (N, input size) as a .npy file, atomically."""
    write_array_atomic(Path(path), np.asarray(inputs, dtype=np.float32))


def load_latents(paths: list[Path] | tuple[Path, ...], input_size: int) -> np.ndarray:
    """Generator inputs (N, input_size) from one or more .npy files, checked against the generator.

    A file may hold one input (a vector) or several (rows). Any problem is a one-line OptionError
    naming the file.
    """
    rows = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise OptionError(f"--latents {path}: no such file")
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise OptionError(f"--latents {path}: not a NumPy .npy file ({reason})") from None
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] != input_size:
            raise OptionError(
                f"--latents {path}: holds an array of shape {array.shape}; this generator takes rows of "
                f"{input_size} numbers"
            )
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isfinite(array)):
            raise OptionError(f"--latents {path}: holds values that are not finite numbers")
        rows.append(array.astype(np.float32))
    if not rows:
        raise OptionError("--latents needs at least one file")
    return np.concatenate(rows)

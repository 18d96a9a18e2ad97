"""TensorBoard logs of a run: scalars every step, the sample grid as an image.

They go to the run's ``logs/`` folder, so ``tensorboard --logdir runs`` shows
every run side by side.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kgan.backend import tensorflow_module


class TensorBoardLog:
    """Writes TensorBoard summaries for one run."""

    def __init__(self, logs_dir: Path):
        self._tf = tensorflow_module()
        self._writer = self._tf.summary.create_file_writer(str(logs_dir))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        with self._writer.as_default(step=step):
            for name, value in values.items():
                self._tf.summary.scalar(name, value)

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """A uint8 image (H, W, 1 or 3)."""
        with self._writer.as_default(step=step):
            self._tf.summary.image(name, image[None], max_outputs=1)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

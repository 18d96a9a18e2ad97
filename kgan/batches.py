"""What each training step sees: which images, which noise, prepared ahead of time.

Everything here is a function of the run's seed and the step (the noise) or of
the seed and the number of images seen (the data order), so a resumed run
gets exactly the batches it would have had without stopping.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import numpy as np

PREFETCH_BATCHES = 4


class BatchOrder:
    """Which images make up each batch: a fresh shuffle per epoch, drawn from the seed.

    Batches run straight across epoch boundaries, so every batch is full even
    for a folder smaller than one batch.
    """

    def __init__(self, count: int, batch_size: int, seed: int):
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self._cached_epoch, self._cached_order = -1, np.arange(0)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch != self._cached_epoch:
            self._cached_epoch = epoch
            self._cached_order = np.random.default_rng([self.seed, 0, epoch]).permutation(self.count)
        return self._cached_order

    def indices(self, images_seen: int) -> np.ndarray:
        picked: list[np.ndarray] = []
        position, needed = images_seen, self.batch_size
        while needed:
            epoch, offset = divmod(position, self.count)
            chunk = self._order(epoch)[offset : offset + needed]
            picked.append(chunk)
            position += len(chunk)
            needed -= len(chunk)
        return np.concatenate(picked)


def step_noise(seed: int, step: int, batch_size: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The D-step and G-step noise for one step, a function of the seed and the step only."""
    rng = np.random.default_rng([seed, 1, step])
    shape = (batch_size, latent_dim)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


@dataclass
class Batch:
    """The inputs of one step: real uint8 images and the noise for the D and G steps."""

    real_images: np.ndarray
    discriminator_noise: np.ndarray
    generator_noise: np.ndarray


def make_batch(images: np.ndarray, order: BatchOrder, seed: int, step: int, latent_dim: int) -> Batch:
    """The batch for ``step`` (counted from 0), given the images and their order."""
    real = np.ascontiguousarray(images[np.sort(order.indices(step * order.batch_size))])
    return Batch(real, *step_noise(seed, step, order.batch_size, latent_dim))


class Prefetcher:
    """Prepares the next few batches on a background thread, so a step never waits on data.

    ``get(step)`` returns the batch for that step; the thread stays a few steps
    ahead. Stop it with ``close()`` (or use it as a context manager).
    """

    def __init__(self, images: np.ndarray, order: BatchOrder, seed: int, first_step: int, latent_dim: int):
        self._queue: queue.Queue[tuple[int, Batch | BaseException]] = queue.Queue(maxsize=PREFETCH_BATCHES)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._fill, args=(images, order, seed, first_step, latent_dim), daemon=True, name="kgan-prefetch"
        )
        self._thread.start()

    def _fill(self, images: np.ndarray, order: BatchOrder, seed: int, step: int, latent_dim: int) -> None:
        while not self._stop.is_set():
            try:
                item: Batch | BaseException = make_batch(images, order, seed, step, latent_dim)
            except BaseException as error:  # handed to the training thread, which raises it
                item = error
            while not self._stop.is_set():
                try:
                    self._queue.put((step, item), timeout=0.1)
                    break
                except queue.Full:
                    continue
            step += 1

    def get(self, step: int) -> Batch:
        queued_step, item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        if queued_step != step:
            raise RuntimeError(f"prefetched batch {queued_step} arrived for step {step}")
        return item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

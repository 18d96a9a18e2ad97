"""What each training step sees: which images, which noise, prepared ahead of time.

Everything here is a function of the run's seed and the step (the noise) or of
the seed and the number of images seen (the data order), so a resumed run
gets exactly the batches it would have had without stopping.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

import numpy as np

from kgan.gan.augment import PARAMS_PER_IMAGE
from kgan.gan.conditions import Condition, NoCondition
from kgan.random_streams import Stream, stream

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
            self._cached_order = stream(self.seed, Stream.DATA_ORDER, epoch).permutation(self.count)
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


@dataclass
class Batch:
    """The inputs of one training step, every array with the global batch as its first axis.

    The second axis of the critic arrays counts the critic steps (one D update
    each) that come before the G update.
    """

    real_images: np.ndarray  # (B, steps, H, W, C) uint8
    real_codes: np.ndarray  # (B, steps, D's extra channels): class labels of the real images
    critic_noise: np.ndarray  # (B, steps, latent)
    critic_codes: np.ndarray  # (B, steps, code size): codes of the fakes D sees
    critic_augment: np.ndarray  # (B, steps, 2, P): augmentation of real [0] and fake [1] images
    critic_mix: np.ndarray  # (B, steps): gradient-penalty interpolation factors
    generator_noise: np.ndarray  # (B, latent)
    generator_codes: np.ndarray  # (B, code size)
    generator_augment: np.ndarray  # (B, P)


@dataclass(frozen=True)
class BatchPlan:
    """How batches are drawn for a run: sizes, seed, and the variant's codes and augmentation."""

    batch_size: int
    latent_dim: int
    seed: int
    condition: Condition = field(default_factory=NoCondition)
    critic_steps: int = 1
    augment: bool = False
    mirror: bool = False

    @property
    def images_per_step(self) -> int:
        return self.batch_size * self.critic_steps


def make_batch(images: np.ndarray, labels: np.ndarray, order: BatchOrder, plan: BatchPlan, step: int) -> Batch:
    """The batch for ``step`` (counted from 0): a function of the seed and the step only."""
    size, steps, latent = plan.batch_size, plan.critic_steps, plan.latent_dim
    rng = stream(plan.seed, Stream.TRAINING_STEP, step)
    # Critic step k takes the k-th block of `size` images from the data order.
    indices = order.indices(step * plan.images_per_step).reshape(steps, size).T
    real_labels = labels[indices]
    augment_width = PARAMS_PER_IMAGE if plan.augment else 0
    real_images = np.ascontiguousarray(images[indices.ravel()]).reshape(size, steps, *images.shape[1:])
    if plan.mirror:
        flipped = stream(plan.seed, Stream.MIRROR, step).random((size, steps)) < 0.5
        real_images[flipped] = real_images[flipped][:, :, ::-1]
    return Batch(
        real_images=real_images,
        real_codes=plan.condition.codes_for_real(real_labels),
        critic_noise=rng.standard_normal((size, steps, latent), dtype=np.float32),
        critic_codes=plan.condition.codes_for_fakes(rng, real_labels),
        critic_augment=rng.random((size, steps, 2, augment_width), dtype=np.float32),
        critic_mix=rng.random((size, steps), dtype=np.float32),
        generator_noise=rng.standard_normal((size, latent), dtype=np.float32),
        generator_codes=plan.condition.codes_for_fakes(rng, labels[rng.integers(0, len(labels), size)]),
        generator_augment=rng.random((size, augment_width), dtype=np.float32),
    )


def plain_batch(real_images: np.ndarray, discriminator_noise: np.ndarray, generator_noise: np.ndarray) -> Batch:
    """A Batch for a plain GAN with one critic step, from the three arrays it needs."""
    size = len(real_images)
    empty = np.zeros((size, 1, 0), dtype=np.float32)
    return Batch(
        real_images=real_images[:, None],
        real_codes=empty,
        critic_noise=discriminator_noise[:, None],
        critic_codes=empty,
        critic_augment=np.zeros((size, 1, 2, 0), dtype=np.float32),
        critic_mix=np.zeros((size, 1), dtype=np.float32),
        generator_noise=generator_noise,
        generator_codes=np.zeros((size, 0), dtype=np.float32),
        generator_augment=np.zeros((size, 0), dtype=np.float32),
    )


class Prefetcher:
    """Prepares the next few batches on a background thread, so a step never waits on data.

    ``get(step)`` returns the batch for that step; the thread stays a few steps
    ahead. Stop it with ``close()`` (or use it as a context manager).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, plan: BatchPlan, first_step: int):
        self._queue: queue.Queue[tuple[int, Batch | BaseException]] = queue.Queue(maxsize=PREFETCH_BATCHES)
        self._stop = threading.Event()
        order = BatchOrder(len(images), plan.images_per_step, plan.seed)
        self._thread = threading.Thread(
            target=self._fill, args=(images, labels, order, plan, first_step), daemon=True, name="kgan-prefetch"
        )
        self._thread.start()

    def _fill(self, images: np.ndarray, labels: np.ndarray, order: BatchOrder, plan: BatchPlan, step: int) -> None:
        while not self._stop.is_set():
            try:
                item: Batch | BaseException = make_batch(images, labels, order, plan, step)
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

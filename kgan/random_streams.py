"""Every random stream kgan draws from, in one table.

All randomness comes from the run's (or the command's) seed. Each use gets its
own stream, ``numpy.random.default_rng([seed, key, ...])``, so that adding a
draw in one place never shifts the numbers drawn in another, and a resumed run
draws exactly what it would have drawn without stopping. The keys are part of
what makes a seed reproduce a file: never renumber them; add new ones.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The key of each random stream."""

    # kgan train: the shuffle of epoch E is rng([seed, DATA_ORDER, E]).
    DATA_ORDER = 0
    # kgan train: the noise, codes, augmentation and penalty mix of step S are rng([seed, TRAINING_STEP, S]).
    TRAINING_STEP = 1
    # kgan train: the fixed generator inputs behind the run's sample grids.
    SAMPLE_GRID = 2
    # kgan video: the key points of the latent walk.
    VIDEO_WALK = 3
    # kgan sample, video, eval: the codes (random classes, InfoGAN codes) when none are asked for.
    RANDOM_CODES = 7
    # kgan project: the random starts of picture I are rng([seed, PROJECTION_STARTS, I]).
    PROJECTION_STARTS = 8
    # kgan train --grow: the full-size D's first weights, drawn at the hand-over (so a resumed run draws the same).
    GROWN_DISCRIMINATOR = 9
    # kgan train --mirror: which real images of step S are flipped, rng([seed, MIRROR, S]).
    MIRROR = 10


def stream(seed: int, key: Stream, *more: int) -> np.random.Generator:
    """The generator for one stream of one seed (``more`` picks a sub-stream, such as the step)."""
    return np.random.default_rng([seed, int(key), *more])


def noise_for_seed(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """The noise of ``kgan sample --seed``: drawn from the seed itself, so the first k images are the
    same for any count of at least k."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim), dtype=np.float32)

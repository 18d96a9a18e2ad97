"""Lookahead over both players: every k training steps, G and D step back towards a slow copy.

Each network keeps a slow copy of its trainable weights. Every k training
steps, slow = slow + alpha * (weights - slow), and the weights are set to the
new slow copy; in between, Adam moves the weights as it would
(Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back"; for
GANs, Chavdarova et al. 2021). Averaging the last k steps' excursion damps the
rotation of the two-player game around its equilibrium. The optimizers' own
state (Adam's moments) is left as it is, and so are batch-norm statistics.

The slow copies are variables updated inside the compiled step, and saved in
each checkpoint as ``lookahead.npz`` so that a resumed run goes on exactly.
In code, options and files this one idea is called "lookahead".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kgan.backend import keras_module

keras = keras_module()
ops = keras.ops

DEFAULT_ALPHA = 0.5


@dataclass(frozen=True)
class LookaheadSpec:
    """Synchronise every ``every`` steps, moving the slow copy ``alpha`` of the way to the weights."""

    every: int
    alpha: float

    def __post_init__(self) -> None:
        if self.every < 1 or not 0 < self.alpha <= 1:
            raise ValueError(f"lookahead needs every >= 1 and 0 < alpha <= 1, not {self.every},{self.alpha}")

    def to_text(self) -> str:
        return f"{self.every},{self.alpha:g}"

    @classmethod
    def parse(cls, text: str) -> LookaheadSpec:
        """``"K"`` or ``"K,ALPHA"`` (alpha 0.5 when left out); ValueError saying what is wrong."""
        every_text, _, alpha_text = str(text).partition(",")
        try:
            every, alpha = int(every_text), float(alpha_text or DEFAULT_ALPHA)
        except ValueError:
            raise ValueError(f"{text!r} is not K or K,ALPHA (such as 5,0.5)") from None
        return cls(every, alpha)


class Lookahead:
    """Slow copies of G's and D's trainable weights; create inside the strategy's scope.

    G synchronises after every k-th of its updates, D after every (k * critic steps)-th
    of its own, so both every k training steps, and each network only in its own step.
    """

    def __init__(self, spec: LookaheadSpec, generator: keras.Model, discriminator: keras.Model, critic_steps: int):
        self.spec = spec
        self._generator = _SlowCopy(generator, "generator", spec.every)
        self._discriminator = _SlowCopy(discriminator, "discriminator", spec.every * critic_steps)

    def after_generator_update(self, updates: Any) -> None:
        """Traced, after G's ``updates``-th update: synchronise G when due."""
        self._generator.synchronise_if_due(updates, self.spec.alpha)

    def after_discriminator_update(self, updates: Any) -> None:
        """Traced, after D's ``updates``-th update: synchronise D when due."""
        self._discriminator.synchronise_if_due(updates, self.spec.alpha)

    def arrays(self) -> dict[str, np.ndarray]:
        """The slow copies, for a checkpoint."""
        return {**self._generator.arrays(), **self._discriminator.arrays()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        """Set the slow copies from a checkpoint's arrays; ValueError when they do not fit these networks."""
        expected = len(self._generator.slow) + len(self._discriminator.slow)
        if len(arrays) != expected:
            raise ValueError(f"{len(arrays)} slow copies for {expected} weights")
        self._generator.load(arrays)
        self._discriminator.load(arrays)


class _SlowCopy:
    """One network's slow weights, synchronised every ``every`` updates of that network."""

    def __init__(self, model: keras.Model, name: str, every: int):
        self.name, self.every = name, every
        self.fast = list(model.trainable_variables)
        self.slow = [
            keras.Variable(ops.convert_to_numpy(variable.value), trainable=False, name=f"{name}_slow_{index}")
            for index, variable in enumerate(self.fast)
        ]

    def synchronise_if_due(self, updates: Any, alpha: float) -> None:
        def synchronise() -> None:
            for slow, fast in zip(self.slow, self.fast):
                moved = slow.value + alpha * (fast.value - slow.value)
                slow.assign(moved)
                fast.assign(moved)

        due = ops.equal(ops.mod(ops.cast(updates, "int64"), self.every), 0)
        ops.cond(due, synchronise, lambda: None)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"{self.name}_{index}": ops.convert_to_numpy(slow.value) for index, slow in enumerate(self.slow)}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        for index, slow in enumerate(self.slow):
            value = arrays.get(f"{self.name}_{index}")
            if value is None or tuple(value.shape) != tuple(slow.shape):
                raise ValueError(f"{self.name}'s slow copy {index} is missing or has the wrong shape")
            slow.assign(value)

"""A trained generator, ready to make pictures: loaded from a run, a checkpoint or a .keras file.

A generator's input is noise joined to the run's codes (class labels or
InfoGAN codes, if any); ``GeneratorSource`` knows the split from the run's
config.json. ``kgan sample``, ``video`` and ``eval`` all start here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgan.errors import RunError
from kgan.gan.conditions import Condition, NoCondition
from kgan.images.pictures import to_uint8
from kgan.runs import Run, resolve_checkpoint, step_of

INFERENCE_BATCH = 64


@dataclass
class GeneratorSource:
    """A loaded generator, where it came from, and what its input holds."""

    run: Run | None
    generator: object  # a keras.Model; typed loosely so this module imports without Keras
    condition: Condition = field(default_factory=NoCondition)
    uses_ema: bool = False
    step: int | None = None
    checkpoint: Path | None = None  # the checkpoint folder or .keras file it was loaded from

    @property
    def input_size(self) -> int:
        """Numbers per generator input: the noise, then the codes."""
        return int(self.generator.input_shape[-1])

    @property
    def latent_dim(self) -> int:
        return self.input_size - self.condition.code_size

    def describe(self) -> str:
        where = self.run.path if self.run else self.checkpoint
        text = f"{where} at step {self.step}" if self.step is not None else str(where)
        return text + (", moving average of G" if self.uses_ema else "")

    def images(self, inputs: np.ndarray) -> np.ndarray:
        """uint8 images (N, H, W, C) from generator inputs, in fixed-size batches, G in inference mode."""
        return generate(self.generator, inputs)


def load_generator_source(run_or_path: str | None, runs_dir: Path, ema: bool = True) -> GeneratorSource:
    """Load the generator of the newest run, a named run, a checkpoint or a .keras file.

    ``ema`` picks G's moving average where the run kept one.
    """
    from kgan import backend

    backend.keras_module()
    from kgan.checkpoints import load_generator
    from kgan.runs import Checkpoint

    run, checkpoint = resolve_checkpoint(run_or_path, runs_dir)
    condition: Condition = NoCondition()
    if run is not None and run.config_path.is_file():
        condition = run.config().model.condition
    uses_ema = ema and checkpoint.is_dir() and Checkpoint(checkpoint).has_ema
    generator = load_generator(checkpoint, ema=ema)
    source = GeneratorSource(run, generator, condition, uses_ema, step_of(checkpoint), checkpoint)
    if source.latent_dim < 1:
        raise RunError(f"{checkpoint} does not match its run's config.json (input too small for the codes)")
    return source


def generate(generator: object, inputs: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) from generator inputs, in fixed-size batches, G in inference mode."""
    from kgan import backend

    keras = backend.keras_module()
    batches = []
    for start in range(0, len(inputs), INFERENCE_BATCH):
        images = generator(inputs[start : start + INFERENCE_BATCH], training=False)
        batches.append(to_uint8(keras.ops.convert_to_numpy(images)))
    return np.concatenate(batches)

"""An exponential moving average of G's weights, for cleaner samples.

After every G update: ema = d * ema + (1 - d) * weights, with the decay d
ramped up early in training, min(decay, (1 + step) / (10 + step)), so the
average does not drag the random initial weights along for thousands of steps.
Batch-norm statistics are copied rather than averaged: on 64 px colour icons with
the projected D, recomputing them for the averaged weights (100 batches of 64,
BigGAN's standing statistics) drew level (105.9 against 107.3 as copied, one
run). In another run G itself drew 107.3 and its average 105.3. The EMA is a
generator model of its own, saved beside G as ``generator_ema.keras``; ``kgan
sample``, ``video`` and ``eval`` use it unless ``--no-ema``. In code, options
and files this one idea is called "ema".
"""

from __future__ import annotations

from typing import Any

from kgan.backend import keras_module

keras = keras_module()
ops = keras.ops


def ramped_decay(decay: float, step: Any) -> Any:
    """The decay used at ``step`` (G updates so far): lower at first, ``decay`` in the long run."""
    step = ops.cast(step, "float32")
    return ops.minimum(decay, (1.0 + step) / (10.0 + step))


def make_ema(generator: keras.Model) -> keras.Model:
    """A copy of the generator with the same weights, to hold the moving average."""
    ema = keras.models.clone_model(generator)
    ema.set_weights(generator.get_weights())
    return ema


def update_ema(ema: keras.Model, generator: keras.Model, decay: float, step: Any) -> None:
    """Move the EMA towards the generator's current weights."""
    weight = ramped_decay(decay, step)
    for target, source in zip(ema.trainable_variables, generator.trainable_variables):
        target.assign(weight * target + (1.0 - weight) * ops.cast(source, target.dtype))
    for target, source in zip(ema.non_trainable_variables, generator.non_trainable_variables):
        target.assign(source)

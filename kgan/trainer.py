"""The alternating GAN update: one discriminator step, then one generator step.

The generator step runs through the combined model ``Sequential([G, D])`` with
D frozen: only G's variables receive gradients, and any state D would update
(batch-norm moving statistics) is computed and thrown away. This avoids both
Keras 3 traps of the textbook recipe (``D.trainable = False`` after compiling):

1. ``trainable`` is read when a train function is built, so toggling it around
   ``train_on_batch`` after compiling never trains D.
2. A batch-norm layer with ``trainable=False`` runs in inference mode, so a
   frozen D would compute a different function in the G step than in the D step.

Here D runs in training mode in both steps, and "frozen" means exactly that its
variables do not change. Both steps are traced once into one TensorFlow graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kgan.backend import keras_module, tensorflow_module
from kgan.models import build_combined

keras = keras_module()
ops = keras.ops
tf = tensorflow_module()


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """Adam with beta1 = 0.5 (DCGAN), or the seed's SGD with Nesterov momentum 0.9."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}")


def images_to_unit_range(images: Any) -> Any:
    """Map uint8 pixels [0, 255] to the generator's tanh range [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


class GanTrainer:
    """Holds G, D, the combined model and their optimizers, and updates them.

    ``discriminator_output`` says whether D's last layer gives "logits" or
    "probabilities"; the binary cross-entropy is computed to match.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: keras.optimizers.Optimizer,
        discriminator_optimizer: keras.optimizers.Optimizer,
        discriminator_output: str = "logits",
    ):
        if discriminator_output not in ("logits", "probabilities"):
            raise ValueError(f"unknown discriminator output {discriminator_output!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.combined = build_combined(generator, discriminator)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.from_logits = discriminator_output == "logits"
        # Compiling attaches each optimizer to its model, so that the model's
        # .keras file carries the optimizer's state; then build the optimizers'
        # slots now, outside any traced function.
        for model, optimizer in ((generator, generator_optimizer), (discriminator, discriminator_optimizer)):
            if getattr(model, "optimizer", None) is not optimizer:
                model.compile(optimizer=optimizer)
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
        self._compiled_discriminator_step = tf.function(self._discriminator_step)
        self._compiled_generator_step = tf.function(self._generator_step)
        self._compiled_train_step = tf.function(self._train_step)

    # Public steps; inputs are NumPy arrays, outputs are floats.

    def discriminator_step(self, real_images: np.ndarray, noise: np.ndarray) -> dict[str, float]:
        """Update D once on a batch of real uint8 images and images made from ``noise``."""
        return _to_floats(self._compiled_discriminator_step(real_images, noise))

    def generator_step(self, noise: np.ndarray) -> dict[str, float]:
        """Update G once through the combined model with D frozen."""
        return _to_floats(self._compiled_generator_step(noise))

    def train_step(
        self, real_images: np.ndarray, discriminator_noise: np.ndarray, generator_noise: np.ndarray
    ) -> dict[str, float]:
        """One D step then one G step, in one compiled call."""
        return _to_floats(self._compiled_train_step(real_images, discriminator_noise, generator_noise))

    def generate(self, noise: np.ndarray) -> np.ndarray:
        """Images in [-1, 1] from G in inference mode."""
        return keras.ops.convert_to_numpy(self.generator(noise, training=False))

    # Traced bodies.

    def _loss(self, targets_are_real: bool, outputs: Any) -> Any:
        outputs = ops.cast(outputs, "float32")
        targets = ops.ones_like(outputs) if targets_are_real else ops.zeros_like(outputs)
        return ops.mean(ops.binary_crossentropy(targets, outputs, from_logits=self.from_logits))

    def _probability(self, outputs: Any) -> Any:
        outputs = ops.cast(outputs, "float32")
        return ops.mean(ops.sigmoid(outputs) if self.from_logits else outputs)

    def _discriminator_step(self, real_images: Any, noise: Any) -> dict[str, Any]:
        generator = self.generator
        # G makes the fakes in training mode (batch statistics), but its own
        # state is left as it is: this step changes D and nothing else.
        fake_images, _ = generator.stateless_call(
            [v.value for v in generator.trainable_variables],
            [v.value for v in generator.non_trainable_variables],
            noise,
            training=True,
        )
        real_images = ops.cast(images_to_unit_range(real_images), fake_images.dtype)
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            # Real and fake go through D as separate batches, so a D with
            # batch norm sees the same fake batch statistics as in the G step.
            real_outputs = self.discriminator(real_images, training=True)
            fake_outputs = self.discriminator(fake_images, training=True)
            loss = self._loss(True, real_outputs) + self._loss(False, fake_outputs)
        gradients = tape.gradient(loss, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        return {
            "d_loss": loss,
            "d_real": self._probability(real_outputs),
            "d_fake": self._probability(fake_outputs),
        }

    def _generator_step(self, noise: Any) -> dict[str, Any]:
        combined = self.combined
        trainable = combined.trainable_variables
        state = combined.non_trainable_variables
        generator_variables = self.generator.trainable_variables
        with tf.GradientTape() as tape:
            outputs, new_state = combined.stateless_call(
                [v.value for v in trainable], [v.value for v in state], noise, training=True
            )
            loss = self._loss(True, outputs)
        gradients = tape.gradient(loss, [v.value for v in generator_variables])
        self.generator_optimizer.apply_gradients(zip(gradients, generator_variables))
        # Keep G's new batch-norm statistics; D's (the rest) are discarded.
        for variable, value in zip(state, new_state[: len(self.generator.non_trainable_variables)]):
            variable.assign(value)
        return {"g_loss": loss, "d_fake_in_g_step": self._probability(outputs)}

    def _train_step(self, real_images: Any, discriminator_noise: Any, generator_noise: Any) -> dict[str, Any]:
        metrics = self._discriminator_step(real_images, discriminator_noise)
        metrics.update(self._generator_step(generator_noise))
        return metrics


def _to_floats(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items()}

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
variables do not change. Both steps are traced into one TensorFlow graph, run
once per replica under a tf.distribute strategy.
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
    """Adam with beta1 = 0.5 (DCGAN), or the seed's SGD with Nesterov momentum 0.9.

    Under the mixed float16 policy the optimizer is wrapped in a loss scaler,
    which float16's narrow range needs; bfloat16 needs none.
    """
    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.5)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"unknown optimizer {name!r}")
    if keras.mixed_precision.dtype_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def images_to_unit_range(images: Any) -> Any:
    """Map uint8 pixels [0, 255] to the generator's tanh range [-1, 1]."""
    return ops.cast(images, "float32") / 127.5 - 1.0


class GanTrainer:
    """Holds G, D, the combined model and their optimizers, and updates them.

    ``discriminator_output`` says whether D's last layer gives "logits" or
    "probabilities"; the binary cross-entropy is computed to match. Models and
    optimizers must have been created inside ``strategy.scope()`` when a
    strategy is given.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: keras.optimizers.Optimizer,
        discriminator_optimizer: keras.optimizers.Optimizer,
        discriminator_output: str = "logits",
        strategy: Any = None,
    ):
        if discriminator_output not in ("logits", "probabilities"):
            raise ValueError(f"unknown discriminator output {discriminator_output!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.from_logits = discriminator_output == "logits"
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = int(self.strategy.num_replicas_in_sync)
        with self.strategy.scope():
            self.combined = build_combined(generator, discriminator)
            # Compiling attaches each optimizer to its model, so that the
            # model's .keras file carries the optimizer's state; the optimizers'
            # slots are built now, outside any traced function.
            for model, optimizer in ((generator, generator_optimizer), (discriminator, discriminator_optimizer)):
                if getattr(model, "optimizer", None) is not optimizer:
                    model.compile(optimizer=optimizer)
                if not optimizer.built:
                    optimizer.build(model.trainable_variables)
        self._compiled = {
            name: tf.function(self._distributed(step))
            for name, step in (
                ("discriminator", self._discriminator_step),
                ("generator", self._generator_step),
                ("both", self._train_step),
            )
        }

    # Public steps; inputs are NumPy arrays holding the global batch, outputs are floats.

    def discriminator_step(self, real_images: np.ndarray, noise: np.ndarray) -> dict[str, float]:
        """Update D once on a batch of real uint8 images and images made from ``noise``."""
        return self._run("discriminator", real_images, noise)

    def generator_step(self, noise: np.ndarray) -> dict[str, float]:
        """Update G once through the combined model with D frozen."""
        return self._run("generator", noise)

    def train_step(
        self,
        real_images: np.ndarray,
        discriminator_noise: np.ndarray,
        generator_noise: np.ndarray,
        stop_vote: bool = False,
    ) -> dict[str, float]:
        """One D step then one G step, in one compiled call.

        ``stop_vote`` is this process's wish to stop after this step; the
        returned "stop" is above zero when any process voted so, so that every
        worker of a multi-worker run stops at the same step.
        """
        vote = np.full((self.replicas,), float(stop_vote), dtype=np.float32)
        return self._run("both", real_images, discriminator_noise, generator_noise, vote)

    def generate(self, noise: np.ndarray) -> np.ndarray:
        """Images in [-1, 1] from G in inference mode."""
        return keras.ops.convert_to_numpy(self.generator(noise, training=False))

    # Distribution: split the global batch, run a step per replica, reduce the metrics.

    def _run(self, name: str, *arrays: np.ndarray) -> dict[str, float]:
        metrics = self._compiled[name](*[self._split(array) for array in arrays])
        return {key: float(value) for key, value in metrics.items()}

    def _split(self, array: np.ndarray) -> Any:
        if self.replicas == 1:
            return array
        if len(array) % self.replicas:
            raise ValueError(f"a batch of {len(array)} does not split evenly across {self.replicas} replicas")
        share = len(array) // self.replicas

        def replica_share(context: Any) -> np.ndarray:
            first = context.replica_id_in_sync_group * share
            return array[first : first + share]

        return self.strategy.experimental_distribute_values_from_function(replica_share)

    def _distributed(self, step: Any) -> Any:
        def run_on_every_replica(*inputs: Any) -> dict[str, Any]:
            # Each replica returns its share of a global mean, so the sum is the
            # mean; summed stop votes are above zero when any replica voted.
            per_replica = self.strategy.run(step, args=inputs)
            return {
                name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()
            }

        return run_on_every_replica

    # Traced bodies, run once per replica on that replica's share of the batch.

    def _mean(self, values: Any) -> Any:
        """This replica's share of the global-batch mean (all replicas' shares sum to it)."""
        return ops.mean(ops.cast(values, "float32")) / self.replicas

    def _loss(self, targets_are_real: bool, outputs: Any) -> Any:
        outputs = ops.cast(outputs, "float32")
        targets = ops.ones_like(outputs) if targets_are_real else ops.zeros_like(outputs)
        return self._mean(ops.binary_crossentropy(targets, outputs, from_logits=self.from_logits))

    def _probability(self, outputs: Any) -> Any:
        outputs = ops.cast(outputs, "float32")
        return self._mean(ops.sigmoid(outputs) if self.from_logits else outputs)

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
            scaled_loss = self.discriminator_optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
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
            scaled_loss = self.generator_optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, [v.value for v in generator_variables])
        self.generator_optimizer.apply_gradients(zip(gradients, generator_variables))
        # Keep G's new batch-norm statistics; D's (the rest) are discarded.
        for variable, value in zip(state, new_state[: len(self.generator.non_trainable_variables)]):
            variable.assign(value)
        return {"g_loss": loss, "d_fake_in_g_step": self._probability(outputs)}

    def _train_step(
        self, real_images: Any, discriminator_noise: Any, generator_noise: Any, stop_vote: Any
    ) -> dict[str, Any]:
        metrics = self._discriminator_step(real_images, discriminator_noise)
        metrics.update(self._generator_step(generator_noise))
        metrics["stop"] = ops.max(stop_vote)
        return metrics

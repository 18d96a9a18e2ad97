"""The alternating GAN update: discriminator (critic) steps, then one generator step.

The generator step runs through the combined model ``Sequential([G, D])`` with
D frozen: only G's variables receive gradients, and any state D would update
(batch-norm moving statistics) is computed and thrown away. This avoids both
Keras 3 traps of the textbook recipe (``D.trainable = False`` after compiling):

1. ``trainable`` is read when a train function is built, so toggling it around
   ``train_on_batch`` after compiling never trains D.
2. A batch-norm layer with ``trainable=False`` runs in inference mode, so a
   frozen D would compute a different function in the G step than in the D step.

Here D runs in training mode in both steps, and "frozen" means exactly that its
variables do not change. When something must happen between G and D (class
labels joined to D's input, augmentation), the G step calls G and D in turn
with the same frozen-D rule instead of going through the Sequential model.

The variants are separate pieces passed in a ``GanSetup``: the adversarial
loss (kgan.gan.losses), what G and D get besides noise (kgan.gan.conditions), the
augmentation (kgan.gan.augment), the moving average of G (kgan.gan.ema) and the
slow copies of both networks (kgan.gan.lookahead). Every step
is traced into one TensorFlow graph, compiled by XLA when the trainer is told
to, and run once per replica under a tf.distribute strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kgan.backend import keras_module, tensorflow_module
from kgan.gan.augment import augment
from kgan.gan.batches import Batch
from kgan.gan.conditions import Condition, NoCondition
from kgan.gan.ema import update_ema
from kgan.gan.lookahead import Lookahead
from kgan.gan.losses import AdversarialLoss, gradient_penalty
from kgan.gan.models import build_combined

keras = keras_module()
ops = keras.ops
tf = tensorflow_module()

INFORMATION_WEIGHT = 1.0


@dataclass(frozen=True)
class GanSetup:
    """Which GAN: loss, condition, augmentation, critic steps, penalty and averaging."""

    loss: AdversarialLoss = field(default_factory=AdversarialLoss)
    condition: Condition = field(default_factory=NoCondition)
    augment: tuple[str, ...] = ()
    critic_steps: int = 1
    gradient_penalty_weight: float = 10.0
    ema_decay: float | None = None
    r1_weight: float = 0.0
    # D's first columns that are adversarial scores (several for a projected D; kgan.gan.catalog.score_columns).
    score_columns: int = 1


def make_optimizer(
    name: str, learning_rate: float, beta_1: float = 0.5, beta_2: float = 0.999, momentum: float = 0.9
) -> Any:
    """Adam with the given betas, or the seed's SGD with Nesterov momentum (the options fill the defaults).

    Under the mixed float16 policy the optimizer is wrapped in a loss scaler,
    which float16's narrow range needs; bfloat16 needs none.
    """
    # Lion (sign updates) in Adam's place at 64 px, both rates 3e-4, drew 2.18 times the default's
    # distance in 8 minutes, and both at 1e-4 2.84: a few modes, dotted. Optimistic Adam (each
    # applied step twice this step less the last, Daskalakis et al. 2018) with Lookahead drew 1.15.
    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum, nesterov=True)
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

    Models, optimizers, the EMA and the lookahead copies must have been created
    inside ``strategy.scope()`` when a strategy is given. ``compiler`` is "graph" or
    "xla" (one device only; see ``kgan.backend.choose_compiler``).
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: Any,
        discriminator_optimizer: Any,
        setup: GanSetup | None = None,
        strategy: Any = None,
        ema: keras.Model | None = None,
        compiler: str = "graph",
        lookahead: Lookahead | None = None,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.setup = setup or GanSetup()
        self.ema = ema
        self.lookahead = lookahead
        if (ema is None) != (self.setup.ema_decay is None):
            raise ValueError("an EMA model goes with ema_decay, and only with it")
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = int(self.strategy.num_replicas_in_sync)
        if compiler not in ("graph", "xla") or (compiler == "xla" and self.replicas > 1):
            raise ValueError(f"compiler {compiler!r}: use 'graph', or 'xla' on one device")
        self.compiler = compiler
        condition = self.setup.condition
        # G's output goes straight into D unless labels or augmentation come between.
        self.through_combined = not self.setup.augment and condition.discriminator_channels == 0
        with self.strategy.scope():
            # Only where G's images go straight into D: a D that also takes label planes has more
            # input channels than G makes, and Keras refuses to chain them (unless G makes one).
            self.combined = build_combined(generator, discriminator) if self.through_combined else None
            # Compiling attaches each optimizer to its model, so that the
            # model's .keras file carries the optimizer's state; the optimizers'
            # slots are built now, outside any traced function.
            for model, optimizer in ((generator, generator_optimizer), (discriminator, discriminator_optimizer)):
                if getattr(model, "optimizer", None) is not optimizer:
                    model.compile(optimizer=optimizer)
                if not optimizer.built:
                    optimizer.build(model.trainable_variables)
        jit = compiler == "xla"
        self._compiled = {
            "discriminator": tf.function(self._distributed(self._critic_steps, "discriminator"), jit_compile=jit),
            "generator": tf.function(self._distributed(self._generator_step, "generator"), jit_compile=jit),
            "both": tf.function(self._distributed(self._train_step, "discriminator", "generator"), jit_compile=jit),
        }
        self._fused = tf.function(self._unrolled_steps, jit_compile=jit)

    def set_learning_rates(self, generator_rate: float, discriminator_rate: float) -> None:
        """Set both optimizers' learning rates (read by the compiled steps at each call)."""
        self.generator_optimizer.learning_rate.assign(generator_rate)
        self.discriminator_optimizer.learning_rate.assign(discriminator_rate)

    # Public steps: a Batch holds the global batch; outputs are floats.

    def discriminator_step(self, batch: Batch) -> dict[str, float]:
        """Update D (critic_steps times) on the batch's real images and fakes."""
        return self._run("discriminator", *self._critic_inputs(batch))

    def generator_step(self, batch: Batch) -> dict[str, float]:
        """Update G once through the frozen D."""
        return self._run("generator", *self._generator_inputs(batch))

    def train_step(self, batch: Batch, stop_vote: bool = False) -> dict[str, float]:
        """The D steps then one G step, in one compiled call.

        ``stop_vote`` is this process's wish to stop after this step; the
        returned "stop" is above zero when any process voted so, so that every
        worker of a multi-worker run stops at the same step.
        """
        vote = np.full((len(batch.generator_noise),), float(stop_vote), dtype=np.float32)
        return self._run("both", *self._critic_inputs(batch), *self._generator_inputs(batch), vote)

    def train_steps(self, batches: list[Batch], learning_rates: np.ndarray) -> list[dict[str, float]]:
        """Several steps in one compiled call, one device only: step k sets the rates
        ``learning_rates[k]`` (G's, D's), then runs as ``train_step`` would.

        The steps are unrolled in one program, which XLA compiles once per number
        of steps; for a small network the call's fixed cost is then paid once for
        all of them (see ``kgan.backend.choose_steps_per_execution``).
        """
        if self.replicas > 1:
            raise ValueError("several steps per call run on one device only")
        if np.shape(learning_rates) != (len(batches), 2):
            raise ValueError(f"learning_rates must be ({len(batches)}, 2), not {np.shape(learning_rates)}")
        per_step = [(*self._critic_inputs(batch), *self._generator_inputs(batch)) for batch in batches]
        stacked = [np.stack(arrays) for arrays in zip(*per_step)]
        metrics = self._fused(np.asarray(learning_rates, dtype=np.float32), *stacked)
        values = {key: keras.ops.convert_to_numpy(value) for key, value in metrics.items()}
        return [{key: float(value[k]) for key, value in values.items()} for k in range(len(batches))]

    def generate(self, noise_and_codes: np.ndarray) -> np.ndarray:
        """Images in [-1, 1] in inference mode, from G's EMA when there is one."""
        model = self.inference_generator
        return keras.ops.convert_to_numpy(model(noise_and_codes, training=False))

    @property
    def inference_generator(self) -> keras.Model:
        """The generator that makes pictures: G's EMA when there is one, else G."""
        return self.ema if self.ema is not None else self.generator

    @staticmethod
    def _critic_inputs(batch: Batch) -> tuple[np.ndarray, ...]:
        return (
            batch.real_images,
            batch.real_codes,
            batch.critic_noise,
            batch.critic_codes,
            batch.critic_augment,
            batch.critic_mix,
        )

    @staticmethod
    def _generator_inputs(batch: Batch) -> tuple[np.ndarray, ...]:
        # The real images of the first critic step: a relativistic loss pairs G's fakes with them.
        return (
            batch.generator_noise,
            batch.generator_codes,
            batch.generator_augment,
            batch.real_images[:, 0],
            batch.real_codes[:, 0],
        )

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

    def _distributed(self, step: Any, *updated: str) -> Any:
        def run_on_every_replica(*inputs: Any) -> dict[str, Any]:
            # Each replica returns its share of a global mean, so the sum is the
            # mean; summed stop votes are above zero when any replica voted.
            per_replica = self.strategy.run(step, args=inputs)
            metrics = {
                name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()
            }
            # Outside the replicas: every copy of the variables moves alike.
            self._after_updates(*updated)
            return metrics

        return run_on_every_replica

    # Traced bodies, run once per replica on that replica's share of the batch.

    def _mean(self, values: Any) -> Any:
        """This replica's share of the global-batch mean (all replicas' shares sum to it)."""
        return ops.mean(ops.cast(values, "float32")) / self.replicas

    def _scores(self, outputs: Any) -> Any:
        """D's adversarial scores in float32: its first column, or its first ``score_columns`` (each a score
        the loss treats alike, averaged with the rest)."""
        columns = self.setup.score_columns
        return ops.cast(outputs[:, 0] if columns == 1 else outputs[:, :columns], "float32")

    def _image_scores(self, outputs: Any) -> Any:
        """One score per image, the mean of its score columns: what the gradient penalties differentiate."""
        scores = self._scores(outputs)
        return scores if self.setup.score_columns == 1 else ops.mean(scores, axis=1)

    def _seen_by_d(self, images: Any, codes: Any, augment_params: Any) -> Any:
        """What D is shown: the (augmented) images, with any label planes joined."""
        if self.setup.augment:
            images = augment(images, augment_params, self.setup.augment)
        return self.setup.condition.discriminator_input(ops, images, codes)

    def _generator_input(self, noise: Any, codes: Any) -> Any:
        return ops.concatenate([noise, ops.cast(codes, noise.dtype)], axis=-1) if codes.shape[-1] else noise

    def _critic_steps(self, real_images, real_codes, noise, codes, augment_params, mix) -> dict[str, Any]:
        totals: dict[str, Any] = {}
        steps = self.setup.critic_steps
        for index in range(steps):
            metrics = self._critic_step(
                real_images[:, index], real_codes[:, index], noise[:, index], codes[:, index],
                augment_params[:, index], mix[:, index],
            )  # fmt: skip
            totals = {name: totals.get(name, 0.0) + value / steps for name, value in metrics.items()}
        return totals

    def _critic_step(self, real_images, real_codes, noise, codes, augment_params, mix) -> dict[str, Any]:
        generator, setup = self.generator, self.setup
        # G makes the fakes in training mode (batch statistics), but its own
        # state is left as it is: this step changes D and nothing else. Making every critic step's
        # fakes in one call of G (G does not change between them) ran no more steps at 64 px.
        fakes, _ = generator.stateless_call(
            [v.value for v in generator.trainable_variables],
            [v.value for v in generator.non_trainable_variables],
            self._generator_input(noise, codes),
            training=True,
        )
        real_images = ops.cast(images_to_unit_range(real_images), fakes.dtype)
        if setup.augment:
            real_images = augment(real_images, augment_params[:, 0], setup.augment)
            fakes = augment(fakes, augment_params[:, 1], setup.augment)
        condition = setup.condition
        variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            # Real and fake go through D as separate batches, so a D with
            # batch norm sees the same fake batch statistics as in the G step. Without batch norm, one
            # call on both made 1.08-1.16 times the steps in one-minute runs but 1.02 in 8 minutes, and
            # drew 1.01, 1.11 and 1.11 of the default's colour, patch and identity-net distances (64 px
            # colour icons, AVX-512 BF16 EPYC), so the D step makes two calls whatever the norm.
            real_input = condition.discriminator_input(ops, real_images, real_codes)
            if setup.r1_weight:
                real_outputs, r1_penalty = self._discriminate_with_r1(real_input)
            else:
                real_outputs = self.discriminator(real_input, training=True)
            fake_outputs = self.discriminator(condition.discriminator_input(ops, fakes, codes), training=True)
            real_scores = self._scores(real_outputs)
            fake_scores = self._scores(fake_outputs)
            loss = self._mean(setup.loss.discriminator(real_scores, fake_scores))
            metrics = {}
            if setup.loss.is_wasserstein:

                def critic(images: Any) -> Any:
                    return self._image_scores(
                        self.discriminator(condition.discriminator_input(ops, images, real_codes), training=True)
                    )

                penalty = self._mean(gradient_penalty(critic, real_images, fakes, mix))
                loss = loss + setup.gradient_penalty_weight * penalty
                metrics["w_distance"] = self._mean(real_scores) - self._mean(fake_scores)
            # At 64 px (colour, 8 minutes, AMX Xeon) D ends near chance (D(x) 0.52, D(G(z)) 0.47), and
            # reining it in further did not help: LeCam's penalty (weight 0.3; scores past the moving
            # average of the other side's, squared) drew 1.12 of the default's distance.
            if setup.r1_weight:
                metrics["r1"] = self._mean(r1_penalty)
                loss = loss + setup.r1_weight / 2 * metrics["r1"]
            information = condition.information_loss(ops, fake_outputs, codes)
            if information is not None:
                metrics["info_loss"] = self._mean(information)
                loss = loss + INFORMATION_WEIGHT * metrics["info_loss"]
            scaled_loss = self.discriminator_optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        return {
            "d_loss": loss,
            "d_real": self._mean(setup.loss.real_probability(real_scores)),
            "d_fake": self._mean(setup.loss.real_probability(fake_scores)),
            **metrics,
        }

    def _discriminate_with_r1(self, real_input: Any) -> tuple[Any, Any]:
        """D's outputs on real images, and R1: the squared norm of D's score gradient at each real image.

        Zero-centred on the data (Mescheder et al. 2018): D is pushed to be flat
        around real images, which keeps the game from oscillating.
        """
        with tf.GradientTape() as tape:
            tape.watch(real_input)
            outputs = self.discriminator(real_input, training=True)
            total = ops.sum(self._image_scores(outputs))
        gradients = ops.cast(tape.gradient(total, real_input), "float32")
        return outputs, ops.sum(ops.square(gradients), axis=(1, 2, 3))

    def _discriminate_fakes(self, generator_input: Any, codes: Any, augment_params: Any) -> tuple[Any, list]:
        """D's outputs on G's images, and G's new state; D's new state is discarded (D is frozen)."""
        generator = self.generator
        generator_state_count = len(generator.non_trainable_variables)
        if self.through_combined:
            combined = self.combined
            outputs, new_state = combined.stateless_call(
                [v.value for v in combined.trainable_variables],
                [v.value for v in combined.non_trainable_variables],
                generator_input,
                training=True,
            )
            return outputs, new_state[:generator_state_count]
        fakes, generator_state = generator.stateless_call(
            [v.value for v in generator.trainable_variables],
            [v.value for v in generator.non_trainable_variables],
            generator_input,
            training=True,
        )
        return self._frozen_discriminator(self._seen_by_d(fakes, codes, augment_params)), generator_state

    def _frozen_discriminator(self, inputs: Any) -> Any:
        """D's outputs in training mode (batch statistics), with any new state D computes thrown away."""
        discriminator = self.discriminator
        outputs, _ = discriminator.stateless_call(
            [v.value for v in discriminator.trainable_variables],
            [v.value for v in discriminator.non_trainable_variables],
            inputs,
            training=True,
        )
        return outputs

    def _real_scores_for_generator(self, real_images: Any, real_codes: Any, augment_params: Any) -> Any:
        """D's scores of real images in G's step: no gradient, and D's new state thrown away (D is frozen)."""
        images = images_to_unit_range(real_images)
        outputs = self._frozen_discriminator(self._seen_by_d(images, real_codes, augment_params))
        return ops.stop_gradient(self._scores(outputs))

    def _generator_step(self, noise, codes, augment_params, real_images, real_codes) -> dict[str, Any]:
        setup = self.setup
        variables = self.generator.trainable_variables
        real_scores = None
        if setup.loss.is_relativistic:
            real_scores = self._real_scores_for_generator(real_images, real_codes, augment_params)
        with tf.GradientTape() as tape:
            outputs, new_state = self._discriminate_fakes(self._generator_input(noise, codes), codes, augment_params)
            scores = self._scores(outputs)
            # G's loss is the adversarial one alone. A mode-seeking term (Mao et al. 2019: G also
            # maximises the mean gap between two fakes over the gap between their noise vectors,
            # weight 1) drew 0.97, 1.55 and 1.23 of the default's colour, patch and identity-net
            # distances and left recall at 0.01 against 0.02 (64 px colour icons, 8 minutes, AVX-512
            # BF16 EPYC; bench/coverage.py), its grid hatched with diagonal stripes.
            loss = self._mean(setup.loss.generator(scores, real_scores))
            information = setup.condition.information_loss(ops, outputs, codes)
            if information is not None:
                loss = loss + INFORMATION_WEIGHT * self._mean(information)
            scaled_loss = self.generator_optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, [v.value for v in variables])
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        # Keep G's new batch-norm statistics.
        for variable, value in zip(self.generator.non_trainable_variables, new_state):
            variable.assign(value)
        return {"g_loss": loss, "d_fake_in_g_step": self._mean(setup.loss.real_probability(scores))}

    def _unrolled_steps(self, learning_rates: Any, *stacked: Any) -> dict[str, Any]:
        """Steps one after another (one device), their inputs stacked on a first axis; metrics stacked alike."""
        per_step = []
        no_vote = ops.zeros((stacked[0].shape[1],), "float32")  # the batch size: no stop votes on one device
        for k in range(learning_rates.shape[0]):  # unrolled: a loop inside XLA ran each step several times slower
            self.generator_optimizer.learning_rate.assign(learning_rates[k, 0])
            self.discriminator_optimizer.learning_rate.assign(learning_rates[k, 1])
            metrics = self._train_step(*[inputs[k] for inputs in stacked], no_vote)
            self._after_updates("discriminator", "generator")
            per_step.append(metrics)
        return {name: ops.stack([ops.cast(metrics[name], "float32") for metrics in per_step]) for name in per_step[0]}

    def _after_updates(self, *updated: str) -> None:
        """After the named networks' updates (traced): synchronise their lookahead copies when
        due, then move G's EMA to G's weights."""
        lookahead = self.lookahead
        if "discriminator" in updated and lookahead is not None:
            lookahead.after_discriminator_update(self.discriminator_optimizer.iterations)
        if "generator" in updated:
            if lookahead is not None:
                lookahead.after_generator_update(self.generator_optimizer.iterations)
            if self.ema is not None:
                update_ema(self.ema, self.generator, self.setup.ema_decay, self.generator_optimizer.iterations)

    def _train_step(self, *inputs: Any) -> dict[str, Any]:
        *critic_inputs, noise, codes, augment_params, real_images, real_codes, stop_vote = inputs
        metrics = self._critic_steps(*critic_inputs)
        metrics.update(self._generator_step(noise, codes, augment_params, real_images, real_codes))
        metrics["stop"] = ops.max(stop_vote)
        return metrics

"""The frozen-discriminator trainer: who moves on which step, and D's output in both steps."""

import dataclasses
import math

import numpy as np
import pytest

from kgan.backend import choose_compiler, choose_steps_per_execution, keras_module
from kgan.errors import OptionError
from kgan.gan.batches import plain_batch
from kgan.gan.catalog import D_NORMS, score_columns
from kgan.gan.ema import make_ema
from kgan.gan.lookahead import Lookahead, LookaheadSpec
from kgan.gan.losses import AdversarialLoss
from kgan.gan.models import build_discriminator, build_generator
from kgan.gan.step import GanSetup, GanTrainer, make_optimizer

keras = keras_module()
LATENT = 8
BATCH = 8
# Every architecture as a graph, and with XLA where `--compile auto` uses it in any run (the seed
# architecture's XLA step cannot run once an earlier seeded test made this process deterministic).
ARCHS_AND_COMPILERS = [("dcgan", "graph"), ("lean", "graph"), ("seed", "graph"), ("dcgan", "xla"), ("lean", "xla")]


def _trainer(
    d_norm: str = "none",
    learning_rate: float = 1e-2,
    arch: str = "dcgan",
    r1: float = 0.0,
    loss: str = "bce",
    compiler: str = "graph",
    optimizer: str = "adam",
    ema_decay: float | None = None,
    lookahead: str | None = None,
    critic_steps: int = 1,
    features: str = "none",
) -> GanTrainer:
    keras.utils.set_random_seed(0)
    generator = build_generator(16, 1, LATENT, 4, arch)
    discriminator = build_discriminator(16, 1, 4, arch, norm=d_norm, features=features)
    setup = GanSetup(
        loss=AdversarialLoss(loss, from_logits=arch != "seed"), r1_weight=r1, ema_decay=ema_decay,
        critic_steps=critic_steps, score_columns=score_columns(features),
    )  # fmt: skip
    optimizers = [make_optimizer(optimizer, learning_rate) for _ in range(2)]
    ema = make_ema(generator) if ema_decay is not None else None
    slow = None
    if lookahead is not None:
        slow = Lookahead(LookaheadSpec.parse(lookahead), generator, discriminator, critic_steps)
    return GanTrainer(generator, discriminator, *optimizers, setup, ema=ema, compiler=compiler, lookahead=slow)


def _batch(seed: int = 0, critic_steps: int = 1):
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 256, size=(BATCH, critic_steps, 16, 16, 1), dtype=np.uint8)
    noise = rng.standard_normal((BATCH, critic_steps, LATENT)).astype("float32")
    one = plain_batch(real[:, 0], noise[:, 0], noise[:, 0])
    if critic_steps == 1:
        return one

    # Each critic step its own real images and noise.
    def zeros(*shape):
        return np.zeros((BATCH, critic_steps, *shape), dtype=np.float32)

    return dataclasses.replace(
        one, real_images=real, critic_noise=noise, real_codes=zeros(0), critic_codes=zeros(0),
        critic_augment=zeros(2, 0), critic_mix=zeros(),
    )  # fmt: skip


def _snapshot(model) -> list[np.ndarray]:
    # Every variable, batch-norm moving statistics included.
    return [variable.numpy().copy() for variable in model.weights]


def _moved(before: list[np.ndarray], model) -> list[bool]:
    return [not np.array_equal(old, new.numpy()) for old, new in zip(before, model.weights)]


@pytest.mark.parametrize("d_norm", D_NORMS)
@pytest.mark.parametrize("arch, compiler", ARCHS_AND_COMPILERS)
def test_discriminator_step_moves_d_and_leaves_g_alone(d_norm, arch, compiler):
    trainer = _trainer(d_norm, arch=arch, compiler=compiler)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.discriminator_step(_batch())
    assert all(_moved(discriminator_before, trainer.discriminator))
    assert not any(_moved(generator_before, trainer.generator))


@pytest.mark.parametrize("d_norm", D_NORMS)
@pytest.mark.parametrize("arch, compiler", ARCHS_AND_COMPILERS)
def test_generator_step_moves_g_and_leaves_d_alone(d_norm, arch, compiler):
    trainer = _trainer(d_norm, arch=arch, compiler=compiler)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.generator_step(_batch())
    assert all(_moved(generator_before, trainer.generator))
    assert not any(_moved(discriminator_before, trainer.discriminator))


@pytest.mark.parametrize("compiler", ["graph", "xla"])
def test_a_projected_d_step_moves_only_ds_own_layers_and_the_g_step_leaves_all_of_d_alone(compiler):
    trainer = _trainer("spectral", compiler=compiler, features="lite1")
    discriminator = trainer.discriminator
    # The feature network and the random projections never train; everything else in D does.
    fixed = [
        ("lite1" in weight.path or "projection" in weight.path or "_mix" in weight.path)
        for weight in discriminator.weights
    ]
    assert any(fixed) and not all(fixed)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(discriminator)
    trainer.discriminator_step(_batch())
    moved = _moved(discriminator_before, discriminator)
    assert [not m for m in moved] == fixed
    assert not any(_moved(generator_before, trainer.generator))
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(discriminator)
    trainer.generator_step(_batch())
    assert all(_moved(generator_before, trainer.generator))
    assert not any(_moved(discriminator_before, discriminator))


@pytest.mark.parametrize("arch, compiler", ARCHS_AND_COMPILERS)
def test_lookahead_moves_only_the_stepped_model_too(arch, compiler):
    # Synchronised after every update: each step ends pulled back halfway, still in its own network only.
    trainer = _trainer("spectral", arch=arch, compiler=compiler, lookahead="1,0.5")
    for step, moves, stays in ((trainer.discriminator_step, "discriminator", "generator"),
                               (trainer.generator_step, "generator", "discriminator")):  # fmt: skip
        moving, staying = getattr(trainer, moves), getattr(trainer, stays)
        moving_before, staying_before = _snapshot(moving), _snapshot(staying)
        step(_batch())
        assert all(_moved(moving_before, moving)), moves
        assert not any(_moved(staying_before, staying)), stays


@pytest.mark.parametrize("compiler", ["graph", "xla"])
def test_lookahead_steps_back_alpha_of_the_way_every_k_steps(compiler):
    # Plain SGD and two critic steps: with k = 2 the first step is as without lookahead, and after the
    # second each network's trainable weights sit alpha of the way from where they started.
    plain = _trainer("none", compiler=compiler, optimizer="sgd", critic_steps=2)
    slow = _trainer("none", compiler=compiler, optimizer="sgd", critic_steps=2, lookahead="2,0.25")
    start = {name: _trainable(getattr(plain, name)) for name in ("generator", "discriminator")}
    for trainer in (plain, slow):
        trainer.train_step(_batch(0, critic_steps=2))
    for name in ("generator", "discriminator"):
        for a, b in zip(_trainable(getattr(plain, name)), _trainable(getattr(slow, name))):
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    for trainer in (plain, slow):
        trainer.train_step(_batch(1, critic_steps=2))
    for name in ("generator", "discriminator"):
        after_two = _trainable(getattr(plain, name))
        for origin, fast, got in zip(start[name], after_two, _trainable(getattr(slow, name))):
            np.testing.assert_allclose(got, origin + 0.25 * (fast - origin), rtol=1e-4, atol=1e-6)
        assert any(not np.allclose(fast, got) for fast, got in zip(after_two, _trainable(getattr(slow, name))))


def _trainable(model) -> list[np.ndarray]:
    return [variable.numpy().copy() for variable in model.trainable_variables]


def test_lookahead_options_are_checked():
    assert LookaheadSpec.parse("5") == LookaheadSpec(5, 0.5)
    assert LookaheadSpec.parse("10,0.8").to_text() == "10,0.8"
    for wrong in ("0", "5,0", "5,1.5", "five", "5,half"):
        with pytest.raises(ValueError):
            LookaheadSpec.parse(wrong)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_relativistic_loss_moves_only_the_stepped_model(d_norm):
    # The relativistic G step also runs D on real images; D must still stay exactly as it was.
    trainer = _trainer(d_norm, loss="relativistic")
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.discriminator_step(_batch())
    paths = [weight.path for weight in trainer.discriminator.weights]
    moved = dict(zip(paths, _moved(discriminator_before, trainer.discriminator)))
    # Only score differences count, so the logit's bias gets no gradient; everything else moves.
    [bias] = [path for path in moved if path.endswith("logit/bias")]
    assert not moved.pop(bias) and all(moved.values())
    assert not any(_moved(generator_before, trainer.generator))
    discriminator_before = _snapshot(trainer.discriminator)
    trainer.generator_step(_batch(1))
    assert all(_moved(generator_before, trainer.generator))
    assert not any(_moved(discriminator_before, trainer.discriminator))


def test_relativistic_generator_loss_pairs_fakes_with_the_real_images():
    # Nothing moves at a zero learning rate, so the loss can be recomputed by hand from D's scores.
    trainer = _trainer(learning_rate=0.0, loss="relativistic")
    batch = _batch()
    g_loss = trainer.generator_step(batch)["g_loss"]
    real = batch.real_images[:, 0].astype("float32") / 127.5 - 1.0
    fakes = trainer.generator(batch.generator_noise, training=True)
    real_scores = keras.ops.convert_to_numpy(trainer.discriminator(real, training=True))[:, 0]
    fake_scores = keras.ops.convert_to_numpy(trainer.discriminator(fakes, training=True))[:, 0]
    expected = np.mean(np.logaddexp(0.0, real_scores - fake_scores))
    assert g_loss == pytest.approx(expected, rel=1e-4)
    assert g_loss != pytest.approx(np.mean(np.logaddexp(0.0, -fake_scores)), rel=1e-3)  # not plain bce


def test_repeated_steps_keep_training_d():
    # The compile-once-then-freeze trap: D stops learning after the first G step.
    trainer = _trainer()
    batch = _batch()
    trainer.train_step(batch)
    before = _snapshot(trainer.discriminator)
    trainer.train_step(batch)
    assert all(_moved(before, trainer.discriminator))


def test_d_gives_the_same_output_in_both_steps_even_with_batch_norm():
    # With a zero learning rate nothing moves, so the D step and the G step see
    # the same G and D; a frozen D in inference mode would score the fakes differently.
    trainer = _trainer(d_norm="batch", learning_rate=0.0)
    batch = _batch()
    metrics = trainer.train_step(batch)
    assert metrics["d_fake"] == pytest.approx(metrics["d_fake_in_g_step"], abs=1e-6)
    fakes = trainer.generator(batch.generator_noise, training=True)
    inference_mode = keras.ops.sigmoid(trainer.discriminator(fakes, training=False))
    assert abs(float(keras.ops.mean(inference_mode)) - metrics["d_fake_in_g_step"]) > 1e-4


def test_d_step_and_g_step_change_the_losses_they_should():
    trainer = _trainer(learning_rate=5e-3)
    batch = _batch()
    first = trainer.discriminator_step(batch)["d_loss"]
    for _ in range(5):
        last = trainer.discriminator_step(batch)["d_loss"]
    assert last < first
    first_g = trainer.generator_step(batch)["g_loss"]
    for _ in range(5):
        last_g = trainer.generator_step(batch)["g_loss"]
    assert last_g < first_g


def test_sgd_is_the_seeds_nesterov_momentum():
    optimizer = make_optimizer("sgd", 5e-4)
    assert optimizer.nesterov and optimizer.momentum == pytest.approx(0.9)
    adam = make_optimizer("adam", 2e-4)
    assert adam.beta_1 == pytest.approx(0.5)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_r1_penalty_trains_d_only_and_is_reported(d_norm):
    trainer = _trainer(d_norm, r1=1.0)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    metrics = trainer.discriminator_step(_batch())
    assert metrics["r1"] > 0
    assert all(_moved(discriminator_before, trainer.discriminator))
    assert not any(_moved(generator_before, trainer.generator))


def test_r1_penalty_changes_d_update():
    plain, penalised = _trainer(), _trainer(r1=100.0)
    plain.discriminator_step(_batch())
    penalised.discriminator_step(_batch())
    pairs = zip(plain.discriminator.weights, penalised.discriminator.weights)
    assert any(not np.allclose(a.numpy(), b.numpy()) for a, b in pairs)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_an_xla_step_computes_what_a_graph_step_computes(d_norm):
    # Plain SGD, so that an update is the gradient itself and not its sign (as in Adam's first steps).
    graph = _trainer(d_norm, compiler="graph", optimizer="sgd")
    xla = _trainer(d_norm, compiler="xla", optimizer="sgd")
    start = _snapshot(graph.generator) + _snapshot(graph.discriminator)
    assert all(np.array_equal(a, b) for a, b in zip(start, _snapshot(xla.generator) + _snapshot(xla.discriminator)))
    graph_metrics, xla_metrics = graph.train_step(_batch()), xla.train_step(_batch())
    for name in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert xla_metrics[name] == pytest.approx(graph_metrics[name], rel=1e-4, abs=1e-5)
    for model in ("generator", "discriminator"):
        after_graph, after_xla = getattr(graph, model).weights, getattr(xla, model).weights
        for before, a, b in zip(start, after_graph, after_xla):
            assert not np.array_equal(before, a.numpy()) or np.array_equal(before, b.numpy())
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5)
        start = start[len(after_graph) :]


def test_an_unknown_compiler_is_refused():
    generator, discriminator = build_generator(16, 1, LATENT, 4), build_discriminator(16, 1, 4)
    optimizers = [make_optimizer("adam", 1e-3) for _ in range(2)]
    with pytest.raises(ValueError, match="xla"):
        GanTrainer(generator, discriminator, *optimizers, compiler="jit")


def test_auto_compiles_with_xla_only_a_float32_step_on_one_cpu_without_a_projected_d():
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=False) == "xla"
    assert choose_compiler("auto", "bfloat16", replicas=1, on_gpu=False) == "graph"
    assert choose_compiler("auto", "float32", replicas=2, on_gpu=False) == "graph"
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=True) == "graph"
    assert choose_compiler("graph", "float32", replicas=1, on_gpu=False) == "graph"
    assert choose_compiler("xla", "bfloat16", replicas=1, on_gpu=True) == "xla"
    # The seed architecture's max pooling has no deterministic XLA gradient.
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=False, arch="seed", deterministic=True) == "graph"
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=False, arch="seed") == "xla"
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=False, arch="dcgan", deterministic=True) == "xla"
    # A step with a projected D was seven times slower under XLA than as a graph.
    assert choose_compiler("auto", "float32", replicas=1, on_gpu=False, d_features="lite1") == "graph"
    assert choose_compiler("xla", "float32", replicas=1, on_gpu=False, d_features="lite1") == "xla"
    with pytest.raises(OptionError, match="--compile graph"):
        choose_compiler("xla", "float32", replicas=1, on_gpu=False, arch="seed", deterministic=True)
    with pytest.raises(OptionError, match="--compile xla"):
        choose_compiler("xla", "float32", replicas=2, on_gpu=False)


@pytest.mark.parametrize("compiler", ["graph", "xla"])
def test_steps_run_several_to_a_call_compute_what_they_compute_one_by_one(compiler):
    # Plain SGD, so that an update is the gradient itself; each step brings its own learning rates.
    one_by_one = _trainer("batch", compiler=compiler, optimizer="sgd", ema_decay=0.5, lookahead="2,0.5")
    together = _trainer("batch", compiler=compiler, optimizer="sgd", ema_decay=0.5, lookahead="2,0.5")
    batches, rates = [_batch(0), _batch(1), _batch(2)], np.array([[1e-2, 2e-2], [5e-3, 1e-3], [2e-3, 4e-3]])
    expected = []
    for batch, (generator_rate, discriminator_rate) in zip(batches, rates):
        one_by_one.set_learning_rates(generator_rate, discriminator_rate)
        expected.append(one_by_one.train_step(batch))
    got = together.train_steps(batches, rates)
    assert len(got) == 3
    for mine, theirs in zip(got, expected):
        for name in ("d_loss", "g_loss", "d_real", "d_fake", "stop"):
            assert mine[name] == pytest.approx(theirs[name], rel=1e-4, abs=1e-5)
    for model in ("generator", "discriminator", "ema"):
        for a, b in zip(getattr(one_by_one, model).weights, getattr(together, model).weights):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-4, atol=1e-5)
    assert float(together.discriminator_optimizer.learning_rate.numpy()) == pytest.approx(4e-3)
    assert int(together.generator_optimizer.iterations.numpy()) == 3
    with pytest.raises(ValueError, match="learning_rates"):
        together.train_steps(batches, rates[:2])


def test_auto_runs_several_steps_per_call_only_for_small_xla_steps_in_long_runs():
    assert choose_steps_per_execution(None, "xla", 1, 28, math.inf) == 4
    assert choose_steps_per_execution(None, "xla", 1, 32, 2000) == 4
    assert choose_steps_per_execution(None, "xla", 1, 28, 1999) == 1  # too short to repay compiling
    assert choose_steps_per_execution(None, "xla", 1, 64, math.inf) == 1  # the arithmetic outweighs the call
    assert choose_steps_per_execution(None, "graph", 1, 28, math.inf) == 1
    assert choose_steps_per_execution(None, "xla", 2, 28, math.inf) == 1
    assert choose_steps_per_execution(3, "graph", 1, 64, 10) == 3
    with pytest.raises(OptionError, match="--strategy"):
        choose_steps_per_execution(2, "graph", 2, 28, math.inf)

"""Growing a run from half size (--grow): the growing G, who moves on which step in both parts, and the run."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from kgan.backend import keras_module
from kgan.errors import OptionError
from kgan.gan.batches import plain_batch
from kgan.gan.growing import (
    FULL_SIZE_D,
    HALF_SIZE_D,
    draws_half_size,
    growing_output,
    grown_discriminator,
    half_size_discriminator,
    judging_discriminator,
)
from kgan.gan.losses import AdversarialLoss
from kgan.gan.models import build_discriminator, build_generator
from kgan.gan.step import GanSetup, GanTrainer, make_optimizer
from kgan.options import TrainOptions, auto_grow
from tests.conftest import TINY_DEFAULT_ARGS, TINY_TRAIN_ARGS, make_folder
from tests.test_trainer import _moved, _snapshot

keras = keras_module()
LATENT = 8
# The smallest size that grows: 32 px from 16 px (kgan cannot draw 8 px).
SIZE = 32


def _batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((8, LATENT)).astype("float32")
    return plain_batch(rng.integers(0, 256, size=(8, SIZE, SIZE, 1), dtype=np.uint8), noise, noise)


def _features_before_the_last_doubling(generator, noise):
    tensor = noise
    for layer in generator.layers[:-2]:
        tensor = layer(tensor, training=False)
    return tensor


def test_a_growing_g_draws_its_half_size_picture_repeated_then_upsampled():
    keras.utils.set_random_seed(0)
    generator = build_generator(16, 3, LATENT, 4, grow=True)
    noise = np.random.default_rng(0).standard_normal((2, LATENT)).astype("float32")
    layer = growing_output(generator)
    half = keras.ops.convert_to_numpy(layer.half(_features_before_the_last_doubling(generator, noise)))
    assert half.shape == (2, 8, 8, 3)
    before = keras.ops.convert_to_numpy(generator(noise, training=False))
    np.testing.assert_allclose(before, np.tanh(half.repeat(2, axis=1).repeat(2, axis=2)), atol=1e-5)
    assert draws_half_size(generator)
    layer.grow()
    assert not draws_half_size(generator)
    after = keras.ops.convert_to_numpy(generator(noise, training=False))
    upsampled = keras.ops.convert_to_numpy(keras.layers.UpSampling2D(2, interpolation="bilinear")(half))
    # The detail starts at zero: the grown G draws its half-size picture, upsampled.
    np.testing.assert_allclose(after, np.tanh(upsampled), atol=1e-5)
    assert not np.allclose(after, before, atol=1e-3)


def test_a_growing_g_saves_and_loads_in_either_part(tmp_path):
    from kgan.checkpoints import load_generator

    keras.utils.set_random_seed(1)
    generator = build_generator(16, 3, LATENT, 4, grow=True)
    noise = np.random.default_rng(1).standard_normal((2, LATENT)).astype("float32")
    for name in ("half.keras", "grown.keras"):
        if name == "grown.keras":
            growing_output(generator).grow()
        generator.save(tmp_path / name)
        loaded = load_generator(tmp_path / name)
        assert draws_half_size(loaded) == (name == "half.keras")
        np.testing.assert_allclose(loaded(noise, training=False), generator(noise, training=False), atol=1e-6)
    assert growing_output(build_generator(16, 3, LATENT, 4)) is None
    with pytest.raises(ValueError, match="dcgan"):
        build_generator(16, 3, LATENT, 4, "lean", grow=True)


def _growing_trainer(compiler: str, d_norm: str = "none") -> GanTrainer:
    keras.utils.set_random_seed(0)
    generator = build_generator(SIZE, 1, LATENT, 4, grow=True)
    discriminator = half_size_discriminator(build_discriminator(SIZE // 2, 1, 4, norm=d_norm), SIZE, 1)
    optimizers = [make_optimizer("adam", 1e-2) for _ in range(2)]
    return GanTrainer(generator, discriminator, *optimizers, GanSetup(AdversarialLoss("bce")), compiler=compiler)


def _grown_trainer(trainer: GanTrainer, d_norm: str = "none") -> GanTrainer:
    growing_output(trainer.generator).grow()
    discriminator = grown_discriminator(build_discriminator(SIZE, 1, 4, norm=d_norm), trainer.discriminator)
    optimizers = [make_optimizer("adam", 1e-2) for _ in range(2)]
    setup = GanSetup(AdversarialLoss("bce"), score_columns=2)
    return GanTrainer(trainer.generator, discriminator, *optimizers, setup, compiler=trainer.compiler)


def _full_size_weights(generator) -> list[bool]:
    full_size = {id(weight) for layer in growing_output(generator).full_size_layers for weight in layer.weights}
    return [id(weight) in full_size for weight in generator.weights]


@pytest.mark.parametrize("d_norm", ["none", "spectral"])
@pytest.mark.parametrize("compiler", ["graph", "xla"])
def test_each_step_moves_only_its_own_network_before_and_after_the_hand_over(compiler, d_norm):
    trainer = _growing_trainer(compiler, d_norm)
    # Before: the half-size D learns; G learns all but its full-size layers, which neither run nor train.
    full_size = _full_size_weights(trainer.generator)
    assert any(full_size) and not all(full_size)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.discriminator_step(_batch())
    assert all(_moved(discriminator_before, trainer.discriminator))
    assert not any(_moved(generator_before, trainer.generator))
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.generator_step(_batch())
    assert _moved(generator_before, trainer.generator) == [not full for full in full_size]
    assert not any(_moved(discriminator_before, trainer.discriminator))

    # After: both Ds learn on D's step, and all of G on G's.
    trainer = _grown_trainer(trainer, d_norm)
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.discriminator_step(_batch())
    # Every weight of the new D, and every trainable one of the half-size D (whose spectral norm's
    # one-number power-iteration vector of its logit stays at 1 once normalised).
    moved = dict(
        zip((id(w) for w in trainer.discriminator.weights), _moved(discriminator_before, trainer.discriminator))
    )
    full_size = trainer.discriminator.get_layer(FULL_SIZE_D)
    assert all(moved[id(w)] for w in full_size.weights + trainer.discriminator.trainable_weights)
    assert len(trainer.discriminator.trainable_weights) > len(full_size.trainable_weights)
    assert not any(_moved(generator_before, trainer.generator))
    generator_before, discriminator_before = _snapshot(trainer.generator), _snapshot(trainer.discriminator)
    trainer.generator_step(_batch())
    # The detail's convolution starts at zero, so the block before it learns from the second G step.
    trainer.generator_step(_batch(1))
    assert all(_moved(generator_before, trainer.generator)), [w.path for w in trainer.generator.weights]
    assert not any(_moved(discriminator_before, trainer.discriminator))


def test_the_half_size_d_judges_the_pooled_picture_and_the_grown_d_scores_with_both():
    keras.utils.set_random_seed(2)
    inner = build_discriminator(SIZE // 2, 1, 4)
    half = half_size_discriminator(inner, SIZE, 1)
    images = np.random.default_rng(2).uniform(-1, 1, (3, SIZE, SIZE, 1)).astype("float32")
    pooled = images.reshape(3, SIZE // 2, 2, SIZE // 2, 2, 1).mean(axis=(2, 4))
    np.testing.assert_allclose(half(images), inner(pooled), atol=1e-5)
    full = build_discriminator(SIZE, 1, 4)
    grown = grown_discriminator(full, half)
    np.testing.assert_allclose(grown(images), np.concatenate([full(images), inner(pooled)], axis=1), atol=1e-5)
    assert judging_discriminator(grown) is full and judging_discriminator(half) is half
    assert {layer.name for layer in half.layers} >= {HALF_SIZE_D} and FULL_SIZE_D in {x.name for x in grown.layers}


def test_grow_is_auto_only_where_it_was_measured_and_refused_where_it_cannot_work(tmp_path):
    assert auto_grow(64, 3, "lite1")[0] == 0.5
    assert auto_grow(64, 1, "none")[0] == auto_grow(128, 3, "none")[0] == auto_grow(64, 3, "none")[0] == 0.0
    folder = make_folder(tmp_path / "images")
    lean = TrainOptions(data_dir=folder, arch="lean").validate()
    assert lean.settle(image_count=300, resolution=64)["grow"] == "auto -> off (needs --arch dcgan, not lean)"
    assert lean.grow == 0.0
    for options, words in (
        ({"arch": "seed", "grow": 0.5}, "--arch dcgan"),
        ({"conditional": True, "grow": 0.5}, "--conditional"),
        ({"strategy": "multiworker", "grow": 0.5}, "one machine"),
        ({"grow": 1.0}, "below 1"),
        ({"resolution": 28, "grow": 0.5}, "28 px"),
        ({"resolution": 16, "grow": 0.5}, "16 px"),
    ):
        with pytest.raises(OptionError, match=words):
            TrainOptions(data_dir=folder, **options).validate()


GROW_ARGS = ["--resolution", SIZE, "--grow", "0.5", "--seed", "11", "--checkpoint-every", "2", "--lr-cooldown", "off"]


def test_a_grown_run_hands_over_halfway_and_resumes_exactly_on_either_side(tmp_path, run_cli):
    from kgan.checkpoints import load_discriminator, load_generator
    from tests.test_resume import _losses, _weights

    folder = make_folder(tmp_path / "images", count=10, color=True)
    runs = tmp_path / "runs"
    code, out, err = run_cli(
        "train", folder, "--steps", 6, "--runs-dir", runs, "--name", "straight", *TINY_DEFAULT_ARGS, *GROW_ARGS
    )
    assert code == 0, err
    straight = runs / "straight"
    config = json.loads((straight / "config.json").read_text())
    assert config["options"]["grow"] == 0.5 and config["grown"]["at_step"] == 3
    # Checkpoints before the hand-over hold G drawing at half size; after it, G at full size and both Ds.
    assert draws_half_size(load_generator(straight / "checkpoints" / "step-000002"))
    assert not draws_half_size(load_generator(straight / "checkpoints" / "step-000006"))
    discriminator = load_discriminator(straight / "checkpoints" / "step-000006")
    assert discriminator.output_shape == (None, 2) and FULL_SIZE_D in {layer.name for layer in discriminator.layers}
    sample = load_generator(straight / "checkpoints" / "step-000006")(np.zeros((1, 8), "float32"))
    assert sample.shape == (1, SIZE, SIZE, 3)

    # Stopped before the hand-over or after it, the run goes on as if it had not stopped (with the same
    # budget: the hand-over, like the cooldown, follows the budget).
    for stop in (2, 4):
        cut = runs / f"cut-at-{stop}"
        shutil.copytree(straight, cut)
        for later in range(stop + 2, 7, 2):
            shutil.rmtree(cut / "checkpoints" / f"step-{later:06d}")
        code, _, err = run_cli("train", "--resume", cut, "--runs-dir", runs)
        assert code == 0, err
        expected, _ = _weights(straight / "checkpoints" / "step-000006")
        resumed, _ = _weights(cut / "checkpoints" / "step-000006")
        assert len(expected) == len(resumed)
        for a, b in zip(expected, resumed):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        assert _losses(straight) == _losses(cut)
        assert json.loads((cut / "config.json").read_text())["grown"]["at_step"] == 3


def test_sample_dream_and_export_take_a_grown_run(tmp_path, run_cli):
    import tensorflow as tf

    from kgan.tools.generator import load_generator_source
    from tests.test_project_export import _expected, _noise

    folder = make_folder(tmp_path / "images", count=10, color=True)
    runs = tmp_path / "runs"
    arguments = ["--steps", 4, "--runs-dir", runs, "--name", "r", *TINY_TRAIN_ARGS, *GROW_ARGS]
    assert run_cli("train", folder, *arguments)[0] == 0
    code, _, err = run_cli("sample", "--run", runs / "r", "-n", 4, "--out", tmp_path / "out")
    assert code == 0, err
    assert len(list((tmp_path / "out").glob("*.png"))) >= 4
    # Dreaming with a grown run's D looks inside its full-size D.
    source = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(source)
    code, out, err = run_cli("dream", source, "--runs-dir", runs, "--steps", 2, "--out", tmp_path / "dream.png")
    assert code == 0, err
    assert "dreaming with discriminator" in out
    # Exported (rebuilt in float32 for TFLite), G draws what it draws in kgan, to a few levels.
    out = tmp_path / "g.tflite"
    code, _, err = run_cli("export", "--run", runs / "r", "--format", "tflite", "--out", out)
    assert code == 0, err
    source = load_generator_source(str(runs / "r"), runs)
    noise = _noise(source, 2)
    pictures = list(tf.lite.Interpreter(model_path=str(out)).get_signature_runner()(noise=noise).values())[0]
    expected = _expected(source, noise)
    assert pictures.shape == expected.shape == (2, SIZE, SIZE, 3)
    assert np.abs(pictures.astype(np.int16) - expected).mean() < 4

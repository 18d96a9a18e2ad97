"""The GAN family: conditional, WGAN-GP, hinge, InfoGAN, moving average, augmentation."""

import json

import numpy as np
import pytest
from PIL import Image

from kgan.backend import keras_module, tensorflow_module
from kgan.gan.augment import augment, parse_policies
from kgan.gan.batches import BatchOrder, BatchPlan, make_batch
from kgan.gan.conditions import ClassCondition, InfoCodes
from kgan.gan.ema import make_ema, ramped_decay, update_ema
from kgan.gan.losses import AdversarialLoss, gradient_penalty
from kgan.gan.models import build_discriminator, build_generator
from kgan.gan.step import GanSetup, GanTrainer, make_optimizer
from tests.conftest import TINY_DEFAULT_ARGS, make_folder

keras = keras_module()
tf = tensorflow_module()
ops = keras.ops


def _trainer(setup: GanSetup, latent: int = 4, channels: int = 1, ema: bool = False) -> GanTrainer:
    keras.utils.set_random_seed(0)
    condition = setup.condition
    generator = build_generator(16, channels, latent + condition.code_size, 4)
    discriminator = build_discriminator(
        16, channels + condition.discriminator_channels, 4, outputs=1 + condition.extra_outputs
    )
    return GanTrainer(
        generator, discriminator, make_optimizer("adam", 1e-3), make_optimizer("adam", 1e-3), setup,
        ema=make_ema(generator) if ema else None,
    )  # fmt: skip


def _batch(plan: BatchPlan, labels=None, count: int = 8):
    images = np.random.default_rng(0).integers(0, 256, (count, 16, 16, 1), dtype=np.uint8)
    labels = np.zeros(count, dtype=np.int64) if labels is None else labels
    return make_batch(images, labels, BatchOrder(count, plan.images_per_step, 0), plan, 0)


def test_conditional_models_take_labels_at_g_input_and_as_d_planes():
    condition = ClassCondition(("a", "b", "c"))
    trainer = _trainer(GanSetup(condition=condition))
    assert trainer.generator.input_shape == (None, 4 + 3)
    assert trainer.discriminator.input_shape == (None, 16, 16, 1 + 3)
    images = ops.zeros((2, 16, 16, 1))
    codes = condition.one_hot(np.array([2, 0]))
    seen = ops.convert_to_numpy(condition.discriminator_input(ops, images, codes))
    assert seen.shape == (2, 16, 16, 4)
    assert seen[0, 5, 5, 1:].tolist() == [0, 0, 1] and seen[1, 9, 3, 1:].tolist() == [1, 0, 0]
    plan = BatchPlan(4, 4, 0, condition=condition)
    metrics = trainer.train_step(_batch(plan, labels=np.array([0, 1, 2, 0, 1, 2, 0, 1]), count=8))
    assert np.isfinite(list(metrics.values())).all()


def test_info_gan_head_shares_the_discriminator_body():
    condition = InfoCodes(categories=5, continuous=2)
    trainer = _trainer(GanSetup(condition=condition))
    assert trainer.discriminator.output_shape == (None, 1 + 5 + 2)
    assert trainer.generator.input_shape == (None, 4 + 7)
    metrics = trainer.train_step(_batch(BatchPlan(4, 4, 0, condition=condition), count=4))
    assert "info_loss" in metrics and metrics["info_loss"] > 0


def test_information_loss_is_small_when_the_head_recovers_the_codes():
    condition = InfoCodes(categories=3, continuous=1)
    codes = np.array([[1, 0, 0, 0.5], [0, 0, 1, -0.5]], dtype=np.float32)
    right = np.array([[0, 20, -20, -20, 0.5], [0, -20, -20, 20, -0.5]], dtype=np.float32)
    wrong = np.array([[0, -20, 20, -20, -0.5], [0, 20, -20, -20, 0.5]], dtype=np.float32)
    assert float(ops.max(condition.information_loss(ops, right, codes))) < 1e-6
    assert float(ops.min(condition.information_loss(ops, wrong, codes))) > 10


def test_gradient_penalty_matches_a_critic_with_a_known_gradient():
    real = tf.random.normal((3, 4, 4, 1))
    fake = tf.random.normal((3, 4, 4, 1))

    def linear(images):  # gradient 0.5 everywhere: norm 0.5 * sqrt(16) = 2, penalty (2 - 1)^2
        return 0.5 * ops.sum(images, axis=(1, 2, 3))

    penalty = gradient_penalty(linear, real, fake, np.array([0.0, 0.3, 1.0], dtype=np.float32))
    np.testing.assert_allclose(ops.convert_to_numpy(penalty), [1.0, 1.0, 1.0], rtol=1e-5)

    def square(images):  # gradient x: the norm is that of the interpolated image itself
        return 0.5 * ops.sum(images**2, axis=(1, 2, 3))

    mix = np.array([1.0, 0.0, 0.25], dtype=np.float32)
    penalty = ops.convert_to_numpy(gradient_penalty(square, real, fake, mix))
    mixed = mix[:, None, None, None] * real.numpy() + (1 - mix[:, None, None, None]) * fake.numpy()
    expected = (np.sqrt((mixed**2).sum(axis=(1, 2, 3))) - 1) ** 2
    np.testing.assert_allclose(penalty, expected, rtol=1e-4)


def test_wasserstein_and_hinge_losses():
    real, fake = np.array([2.0, 0.0]), np.array([-1.0, 0.5])
    wasserstein = AdversarialLoss("wgan-gp")
    np.testing.assert_allclose(ops.convert_to_numpy(wasserstein.discriminator(real, fake)), [-3.0, 0.5])
    np.testing.assert_allclose(ops.convert_to_numpy(wasserstein.generator(fake)), [1.0, -0.5])
    hinge = AdversarialLoss("hinge")
    np.testing.assert_allclose(ops.convert_to_numpy(hinge.discriminator(real, fake)), [0.0, 2.5])
    relativistic = AdversarialLoss("relativistic")
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    np.testing.assert_allclose(
        ops.convert_to_numpy(relativistic.discriminator(real, fake)), softplus(fake - real), rtol=1e-6
    )
    np.testing.assert_allclose(
        ops.convert_to_numpy(relativistic.generator(fake, real)), softplus(real - fake), rtol=1e-6
    )


def test_wgan_gp_trains_a_linear_critic_and_reports_the_wasserstein_estimate():
    trainer = _trainer(GanSetup(loss=AdversarialLoss("wgan-gp"), critic_steps=3))
    metrics = trainer.train_step(_batch(BatchPlan(4, 4, 0, critic_steps=3), count=12))
    assert "w_distance" in metrics and np.isfinite(metrics["w_distance"])


def test_moving_average_arithmetic():
    assert float(ramped_decay(0.999, 0)) == pytest.approx(0.1)
    assert float(ramped_decay(0.999, 10_000)) == pytest.approx(0.999)
    generator = build_generator(16, 1, 4, 4)
    ema = make_ema(generator)
    start = [variable.numpy().copy() for variable in ema.trainable_variables]
    for variable in generator.trainable_variables:
        variable.assign(variable + 1.0)
    update_ema(ema, generator, decay=0.999, step=0)  # ramped to 0.1 at step 0
    for variable, before in zip(ema.trainable_variables, start):
        np.testing.assert_allclose(variable.numpy(), 0.1 * before + 0.9 * (before + 1.0), rtol=1e-5, atol=1e-6)


def test_the_ema_follows_g_during_training():
    setup = GanSetup(ema_decay=0.5)
    trainer = _trainer(setup, ema=True)
    before = [v.numpy().copy() for v in trainer.ema.trainable_variables]
    trainer.train_step(_batch(BatchPlan(4, 4, 0), count=4))
    after = [v.numpy() for v in trainer.ema.trainable_variables]
    generator = [v.numpy() for v in trainer.generator.trainable_variables]
    assert not np.array_equal(before[0], after[0])
    # One G update so far: weight (1 + 1) / (10 + 1) on the old average.
    weight = 2 / 11
    np.testing.assert_allclose(after[0], weight * before[0] + (1 - weight) * generator[0], rtol=1e-4, atol=1e-6)


def test_augmentation_is_differentiable_and_changes_the_images():
    images = tf.random.uniform((4, 16, 16, 3), -1, 1)
    params = np.random.default_rng(0).random((4, 7), dtype=np.float32)
    with tf.GradientTape() as tape:
        tape.watch(images)
        augmented = augment(images, params, ("translation", "cutout", "color"))
        total = ops.sum(augmented * augmented)
    gradient = tape.gradient(total, images).numpy()
    assert np.isfinite(gradient).all() and np.abs(gradient).sum() > 0
    assert not np.allclose(augmented.numpy(), images.numpy())
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = ops.sum(augment(images, params, ("cutout",)))
    gradient = tape.gradient(total, images).numpy()
    assert set(np.unique(gradient)) == {0.0, 1.0}  # the cut-out square passes no gradient, the rest all of it


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_translation_moves_each_image_by_its_own_shift_and_fills_with_zeros(dtype):
    images = np.random.default_rng(1).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    # At 16 px the largest shift is 2 pixels: a parameter p moves by round((2p - 1) * 2).
    params = np.full((2, 7), 0.5, np.float32)
    params[0, :2] = (0.75, 0.0)  # image 0: down 1 row, left 2 columns
    params[1, :2] = (0.0, 1.0)  # image 1: up 2 rows, right 2 columns
    moved = augment(tf.cast(images, dtype), params, ("translation",))
    expected = np.zeros_like(images)
    expected[0, 1:, :-2] = images[0, :-1, 2:]
    expected[1, :-2, 2:] = images[1, 2:, :-2]
    tolerance = 1e-2 if dtype == "bfloat16" else 0
    np.testing.assert_allclose(tf.cast(moved, "float32").numpy(), expected, atol=tolerance)


def test_augmentation_is_applied_to_real_and_fake_images(monkeypatch):
    import kgan.gan.step as trainer_module

    calls = []

    def counting(images, params, policies):
        calls.append(tuple(images.shape))
        return augment(images, params, policies)

    monkeypatch.setattr(trainer_module, "augment", counting)
    trainer = _trainer(GanSetup(augment=("translation",)))
    trainer.discriminator_step(_batch(BatchPlan(4, 4, 0, augment=True), count=4))
    assert len(calls) == 2  # the real batch and the fake batch, in the D step
    trainer.generator_step(_batch(BatchPlan(4, 4, 0, augment=True), count=4))
    assert len(calls) == 3  # and the fakes in the G step


@pytest.mark.parametrize("d_norm", ("spectral", "batch", "none"))
def test_with_augmentation_each_step_moves_its_own_model_and_leaves_the_other_alone(d_norm):
    # The default up to 3,000 images: augmentation sits between G and D, so the G step runs G and D
    # statelessly instead of through Sequential([G, D]); D must stay exactly as it was all the same.
    keras.utils.set_random_seed(0)
    generator = build_generator(16, 1, 4, 4, init="dcgan")
    discriminator = build_discriminator(16, 1, 4, norm=d_norm, init="dcgan")
    setup = GanSetup(augment=("translation", "color"), critic_steps=2)
    optimizers = [make_optimizer("adam", 1e-2) for _ in range(2)]
    trainer = GanTrainer(generator, discriminator, *optimizers, setup)
    assert trainer.combined is None
    batch = _batch(BatchPlan(4, 4, 0, critic_steps=2, augment=True), count=8)

    def snapshot(model):
        return [variable.numpy().copy() for variable in model.weights]

    def moved(before, model):
        return [not np.array_equal(old, new.numpy()) for old, new in zip(before, model.weights)]

    generator_before, discriminator_before = snapshot(generator), snapshot(discriminator)
    trainer.discriminator_step(batch)
    assert all(moved(discriminator_before, discriminator)) and not any(moved(generator_before, generator))
    discriminator_before = snapshot(discriminator)
    trainer.generator_step(batch)
    assert all(moved(generator_before, generator)) and not any(moved(discriminator_before, discriminator))


def test_unknown_augmentation_is_refused():
    assert parse_policies("color, translation") == ("color", "translation")
    with pytest.raises(ValueError, match="unknown augmentation 'blur'"):
        parse_policies("color,blur")


# Through the command line, on tiny folders.

FAMILY_ARGS = [*TINY_DEFAULT_ARGS, "--seed", "4", "--checkpoint-every", "2", "--steps", "2", "--precision", "float32"]


@pytest.fixture(scope="module")
def classes_folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("family") / "images", count=12)


def _train(run_cli, folder, runs, name, *extra):
    code, out, err = run_cli("train", folder, "--runs-dir", runs, "--name", name, *FAMILY_ARGS, *extra)
    assert code == 0, err
    return runs / name


def test_conditional_run_trains_resumes_samples_by_label_and_makes_videos(classes_folder, tmp_path, run_cli):
    run = _train(run_cli, classes_folder, tmp_path, "cond", "--conditional")
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["condition"] == {"kind": "classes", "classes": ["a", "b"]}
    assert config["data"]["classes"] == {"a": 6, "b": 6}
    assert run_cli("train", "--resume", run, "--steps", 3)[0] == 0
    code, out, err = run_cli("sample", "--run", run, "--label", "all", "-n", 3, "--out", tmp_path / "all", "--seed", 1)
    assert code == 0, err
    assert len(list((tmp_path / "all").glob("sample-*.png"))) == 6  # 3 per class, 2 classes
    with Image.open(tmp_path / "all" / "grid.png") as grid:
        assert grid.size == (3 * 18 + 2, 2 * 18 + 2)  # one row per class
    assert run_cli("sample", "--run", run, "--label", "b", "-n", 2, "--out", tmp_path / "b")[0] == 0
    assert run_cli("sample", "--run", run, "--label", "1", "-n", 2, "--out", tmp_path / "one")[0] == 0
    code, _, err = run_cli("sample", "--run", run, "--label", "zebra")
    assert code == 2 and "no class 'zebra'" in err
    out_video = tmp_path / "b.gif"
    assert run_cli("video", "--run", run, "--label", "b", "--frames", 4, "--size", 32, "--out", out_video)[0] == 0


def test_conditional_run_on_colour_images_trains_and_samples(tmp_path, run_cli):
    # G makes 3 channels and D takes 3 + 2 (the label planes): the G step must not chain them directly.
    folder = make_folder(tmp_path / "images", count=8, color=True)
    run = _train(run_cli, folder, tmp_path / "runs", "colour", "--conditional")
    assert json.loads((run / "config.json").read_text())["model"]["channels"] == 3
    code, _, err = run_cli("sample", "--run", run, "--label", "a", "-n", 2, "--out", tmp_path / "a")
    assert code == 0, err
    with Image.open(tmp_path / "a" / "sample-0000.png") as picture:
        assert picture.mode == "RGB"


@pytest.mark.parametrize("loss", ["wgan-gp", "hinge", "relativistic"])
def test_other_losses_train_resume_and_sample(classes_folder, tmp_path, run_cli, loss):
    run = _train(run_cli, classes_folder, tmp_path, loss, "--loss", loss)
    lines = (run / "logs" / "losses.jsonl").read_text().splitlines()
    if loss == "wgan-gp":
        assert "w_distance" in json.loads(lines[-1])["extras"]
        assert json.loads((run / "config.json").read_text())["options"]["critic_steps"] == 5
    assert run_cli("train", "--resume", run, "--steps", 3)[0] == 0
    assert run_cli("sample", "--run", run, "-n", 2, "--out", tmp_path / "s")[0] == 0


def test_info_gan_run_sweeps_codes_in_samples_and_videos(classes_folder, tmp_path, run_cli):
    args = ["--info-codes", "--info-categories", "3", "--info-continuous", "1"]
    run = _train(run_cli, classes_folder, tmp_path, "info", *args)
    assert run_cli("train", "--resume", run, "--steps", 3)[0] == 0
    code, _, err = run_cli("sample", "--run", run, "--sweep-code", 0, "-n", 2, "--out", tmp_path / "cat")
    assert code == 0, err
    assert len(list((tmp_path / "cat").glob("sample-*.png"))) == 2 * 3  # 2 rows of the 3 categories
    assert run_cli("sample", "--run", run, "--sweep-code", 1, "-n", 1, "--out", tmp_path / "cont")[0] == 0
    assert len(list((tmp_path / "cont").glob("sample-*.png"))) == 9
    code, _, err = run_cli("sample", "--run", run, "--sweep-code", 2)
    assert code == 2 and "--sweep-code 2" in err
    video = tmp_path / "sweep.mp4"
    assert run_cli("video", "--run", run, "--sweep-code", 0, "--frames", 6, "--size", 32, "--out", video)[0] == 0


def test_moving_average_and_augmentation_run_and_sample_uses_the_average(classes_folder, tmp_path, run_cli):
    run = _train(run_cli, classes_folder, tmp_path, "ema", "--ema", "0.9", "--augment", "translation,cutout,color")
    assert (run / "checkpoints" / "step-000002" / "generator_ema.keras").is_file()
    assert run_cli("train", "--resume", run, "--steps", 3)[0] == 0
    code, out, _ = run_cli("sample", "--run", run, "-n", 2, "--out", tmp_path / "avg")
    assert code == 0 and "moving average" in out
    code, out, _ = run_cli("sample", "--run", run, "-n", 2, "--out", tmp_path / "raw", "--no-ema")
    assert code == 0 and "moving average" not in out
    assert (tmp_path / "avg" / "grid.png").read_bytes() != (tmp_path / "raw" / "grid.png").read_bytes()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--arch", "seed", "--loss", "wgan-gp"], "--arch seed"),
        (["--arch", "seed", "--info-codes"], "--arch seed"),
        (["--conditional", "--info-codes"], "choose --conditional"),
        (["--info-categories", "4"], "need --info-codes"),
        (["--augment", "blur"], "unknown augmentation 'blur'"),
        (["--ema", "1.5"], "--ema"),
    ],
)
def test_combinations_that_make_no_sense_are_refused(classes_folder, tmp_path, run_cli, extra, message):
    code, _, err = run_cli("train", classes_folder, "--runs-dir", tmp_path, *FAMILY_ARGS, *extra)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_conditional_needs_class_subfolders(tmp_path, run_cli):
    flat = tmp_path / "flat"
    make_folder(tmp_path / "nested", count=4)
    flat.mkdir()
    for index, image in enumerate(sorted((tmp_path / "nested").rglob("*.png"))):
        image.rename(flat / f"{index}.png")
    code, _, err = run_cli("train", flat, "--runs-dir", tmp_path / "runs", "--conditional", *FAMILY_ARGS)
    assert code == 2 and "one subfolder per class" in err


def test_labels_and_sweeps_need_the_right_kind_of_run(classes_folder, tmp_path, run_cli):
    run = _train(run_cli, classes_folder, tmp_path, "plain")
    code, _, err = run_cli("sample", "--run", run, "--label", "a")
    assert code == 2 and "--conditional" in err
    code, _, err = run_cli("sample", "--run", run, "--sweep-code", 0)
    assert code == 2 and "--info-codes" in err
    code, _, err = run_cli("video", "--run", run, "--timelapse", "--label", "a")
    assert code == 2 and "do not apply to --timelapse" in err


def test_a_spectrally_normalized_d_trains_resumes_exactly_and_dreams(classes_folder, tmp_path, run_cli):
    from kgan.checkpoints import load_for_training

    straight = _train(run_cli, classes_folder, tmp_path, "straight", "--d-norm", "spectral", "--steps", "3")
    resumed = _train(run_cli, classes_folder, tmp_path, "resumed", "--d-norm", "spectral")
    assert json.loads((resumed / "config.json").read_text())["options"]["d_norm"] == "spectral"
    assert run_cli("train", "--resume", resumed, "--steps", 3)[0] == 0
    # The power iteration's vectors are saved with D, so a resumed run goes on exactly.
    [a, b] = [load_for_training(run / "checkpoints" / "step-000003")[1] for run in (straight, resumed)]
    assert any(type(layer).__name__ == "SpectralNormalization" for layer in a.layers)
    assert len(a.weights) == len(b.weights)
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert run_cli("sample", "--run", resumed, "-n", 2, "--out", tmp_path / "s")[0] == 0
    picture = next(path for path in make_folder(tmp_path / "dream", count=1).rglob("*") if path.is_file())
    out = tmp_path / "dream.png"
    code, _, err = run_cli("dream", picture, "--run", resumed, "--steps", 1, "--octaves", 1, "--out", out)
    assert code == 0 and out.is_file(), err

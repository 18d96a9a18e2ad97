"""The main path through the command line: train, sample, video, and a new user's mistakes."""

import json
import subprocess
import sys
import time
from pathlib import Path

import imageio.v2 as imageio
import pytest
from PIL import Image

from tests.conftest import TINY_TRAIN_ARGS, make_folder


def test_training_writes_a_complete_run_folder(trained_run):
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["resolution"] == 16 and config["model"]["channels"] == 1
    assert config["options"]["steps"] == 4 and config["seed"] == 3
    assert {"keras_version", "tensorflow_version", "kgan_version"} <= config.keys()
    assert len(config["data"]["fingerprint"]) == 16
    checkpoints = sorted(p.name for p in (trained_run / "checkpoints").iterdir())
    assert checkpoints == ["step-000003", "step-000004"]
    for name in ("generator.keras", "discriminator.keras", "state.json"):
        assert (trained_run / "checkpoints" / "step-000004" / name).is_file()
    grids = sorted(p.name for p in (trained_run / "samples").glob("step-*.png"))
    assert grids == ["step-000000.png", "step-000002.png", "step-000004.png"]
    lines = (trained_run / "logs" / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2, 3, 4]
    assert {"d_loss", "g_loss", "elapsed_seconds", "images_per_second"} <= json.loads(lines[0]).keys()


def test_sample_writes_exactly_n_images_and_a_grid(trained_run, run_cli, tmp_path):
    code, out, _ = run_cli("sample", "-n", 5, "--run", trained_run, "--out", tmp_path / "five", "--seed", 1)
    assert code == 0 and "wrote 5 images" in out
    names = sorted(p.name for p in (tmp_path / "five").glob("*.png"))
    assert names == ["grid.png"] + [f"sample-000{i}.png" for i in range(5)]
    with Image.open(tmp_path / "five" / "sample-0000.png") as image:
        assert image.size == (16, 16) and image.mode == "L"


def test_sample_with_the_same_seed_gives_the_same_bytes(trained_run, run_cli, tmp_path):
    for name in ("one", "two", "other"):
        seed = 9 if name != "other" else 10
        assert run_cli("sample", "-n", 3, "--run", trained_run, "--out", tmp_path / name, "--seed", seed)[0] == 0
    files = ["sample-0000.png", "sample-0002.png", "grid.png"]
    for name in files:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert (tmp_path / "one" / "grid.png").read_bytes() != (tmp_path / "other" / "grid.png").read_bytes()


def test_sample_defaults_to_the_newest_run_and_a_new_folder_inside_it(trained_run, run_cli):
    runs_dir = trained_run.parent
    code, out, _ = run_cli("sample", "-n", 2, "--runs-dir", runs_dir)
    assert code == 0
    first = sorted((trained_run / "generated").iterdir())
    assert run_cli("sample", "-n", 2, "--runs-dir", runs_dir)[0] == 0
    assert len(sorted((trained_run / "generated").iterdir())) == len(first) + 1


def test_video_has_exactly_the_requested_frames(trained_run, run_cli, tmp_path):
    out = tmp_path / "walk.mp4"
    code, stdout, _ = run_cli("video", "--frames", 12, "--size", 32, "--run", trained_run, "--out", out, "--seed", 2)
    assert code == 0 and "12 frames" in stdout
    reader = imageio.get_reader(out)
    frames = [frame for frame in reader]
    assert len(frames) == 12 and frames[0].shape == (32, 32, 3)


def test_gif_output_by_extension_and_grid_of_walks(trained_run, run_cli, tmp_path):
    out = tmp_path / "walk.gif"
    assert (
        run_cli("video", "--frames", 7, "--fps", 10, "--size", 48, "--grid", 2, "--run", trained_run, "--out", out)[0]
        == 0
    )
    with Image.open(out) as gif:
        assert gif.size == (48, 48)
        # The GIF encoder merges identical neighbouring frames into one longer
        # frame, so count playing time rather than stored frames: 7 x 100 ms.
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert sum(durations) == 700


def test_timelapse_stitches_the_sample_grids_in_step_order(trained_run, run_cli, tmp_path):
    out = tmp_path / "timelapse.gif"
    assert run_cli("video", "--timelapse", "--run", trained_run, "--out", out, "--size", 64)[0] == 0
    with Image.open(out) as gif:
        assert gif.n_frames == 3 and gif.size[0] == 64 and gif.size[1] > 64


def test_training_on_the_seed_architecture_with_sgd(tmp_path, run_cli):
    folder = make_folder(tmp_path / "images", count=6, color=True)
    code, _, err = run_cli(
        "train",
        folder,
        "--arch",
        "seed",
        "--optimizer",
        "sgd",
        "--steps",
        2,
        "--runs-dir",
        tmp_path / "runs",
        "--name",
        "seeded",
        *TINY_TRAIN_ARGS,
    )
    assert code == 0, err
    config = json.loads((tmp_path / "runs" / "seeded" / "config.json").read_text())
    assert config["model"]["arch"] == "seed" and config["model"]["channels"] == 3
    assert config["options"]["generator_lr"] == pytest.approx(5e-4)


def test_run_names_never_overwrite(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=4)
    for _ in range(2):
        assert run_cli("train", folder, "--steps", 1, "--runs-dir", tmp_path / "runs", *TINY_TRAIN_ARGS)[0] == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["pics-1", "pics-2"]
    code, _, err = run_cli(
        "train", folder, "--steps", 1, "--runs-dir", tmp_path / "runs", "--name", "pics-1", *TINY_TRAIN_ARGS
    )
    assert code == 2 and "already exists" in err


def test_status_lines_show_step_losses_speed_and_elapsed_time(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=4)
    args = [a for a in TINY_TRAIN_ARGS if a != "--quiet"]
    code, out, _ = run_cli("train", folder, "--steps", 2, "--runs-dir", tmp_path / "runs", *args)
    assert code == 0
    status = [line for line in out.splitlines() if line.startswith("step ")]
    assert status and "step 2/2" in status[-1]
    for part in ("epoch", " D ", " G ", "img/s", "00:00:"):
        assert part in status[-1]
    assert "4 images used, 0 skipped" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "{tmp}/nowhere"], "does not exist"),
        (["train", "{tmp}/empty"], "holds no files"),
        (["train", "{tmp}/text"], "no usable images"),
        (["train", "{tmp}/text", "--resolution", "30"], "--resolution 30 is not supported"),
        (["train", "{tmp}/text", "--steps-per-execution", "0"], "--steps-per-execution"),
        (["sample", "-n", "0"], "-n"),
        (["video", "--frames", "0"], "--frames"),
        (["sample", "--runs-dir", "{tmp}/runs"], "no trained run"),
        (["video", "--runs-dir", "{tmp}/runs"], "no trained run"),
        (["sample", "--run", "{tmp}/missing-run"], "does not exist"),
        (["video", "--out", "{tmp}/x.avi"], "x.avi"),
    ],
)
def test_a_new_users_mistakes_get_one_line_and_a_nonzero_exit(tmp_path, run_cli, argv, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "readme.txt").write_text("no pictures here")
    code, _, err = run_cli(*[arg.format(tmp=tmp_path) for arg in argv])
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kgan: error:") and message in lines[0]
    assert "Traceback" not in err


def _kgan(*argv: str) -> subprocess.CompletedProcess:
    code = (
        "import sys; from kgan.cli import main\n"
        "try:\n    main(sys.argv[1:])\nfinally:\n"
        "    print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_NOT_LOADED', file=sys.stderr)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=Path(__file__).parent.parent
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["train", "--help"],
        ["sample", "-n", "0"],
        ["train", "--batch-size", "0"],
        ["eval", "--help"],
        ["runs", "--runs-dir", "/nonexistent"],
        ["info", "--help"],
    ],
)
def test_help_version_and_option_errors_answer_without_tensorflow(argv):
    started = time.monotonic()
    result = _kgan(*argv)
    assert time.monotonic() - started < 5  # the process as a whole, Python start-up included
    assert "TF_NOT_LOADED" in result.stderr
    if argv == ["--version"]:
        from kgan import __version__

        assert result.stdout.strip() == f"kgan {__version__}"


def test_skipped_files_are_reported_and_written_into_the_run(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=4)
    (folder / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "photo.jpg").write_text("hello")
    (folder / "README.txt").write_text("where these came from")  # plainly not an image: not reported
    args = [a for a in TINY_TRAIN_ARGS if a != "--quiet"]
    code, out, _ = run_cli("train", folder, "--steps", 1, "--runs-dir", tmp_path / "runs", "--name", "r", *args)
    assert code == 0 and "4 images used, 2 skipped (" in out and "not an image" in out
    skipped = json.loads((tmp_path / "runs" / "r" / "skipped.json").read_text())
    assert sorted(item["path"] for item in skipped) == ["a/broken.png", "photo.jpg"]
    assert all(item["reason"] for item in skipped)


def test_only_the_newest_checkpoints_are_kept(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=4)
    args = [*TINY_TRAIN_ARGS, "--checkpoint-every", "1", "--keep-checkpoints", "2"]
    assert run_cli("train", folder, "--steps", 5, "--runs-dir", tmp_path / "runs", "--name", "r", *args)[0] == 0
    kept = sorted(p.name for p in (tmp_path / "runs" / "r" / "checkpoints").iterdir())
    assert kept == ["step-000004", "step-000005"]


def test_checkpoints_also_come_by_training_time(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=4)
    args = [*TINY_TRAIN_ARGS, "--checkpoint-every", "1000,0.001s", "--keep-checkpoints", "10"]
    assert run_cli("train", folder, "--steps", 3, "--runs-dir", tmp_path / "runs", "--name", "r", *args)[0] == 0
    kept = sorted(p.name for p in (tmp_path / "runs" / "r" / "checkpoints").iterdir())
    assert kept == ["step-000001", "step-000002", "step-000003"]
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["options"]["checkpoint_every"] == "1000,0.001s"
    # It can change on resume, and config.json says so.
    code, _, err = run_cli("train", "--resume", tmp_path / "runs" / "r", "--steps", 5, "--checkpoint-every", "2")
    assert code == 0, err
    config = json.loads((tmp_path / "runs" / "r" / "config.json").read_text())
    assert config["options"]["checkpoint_every"] == 2
    kept = sorted(p.name for p in (tmp_path / "runs" / "r" / "checkpoints").iterdir())
    assert kept[-2:] == ["step-000004", "step-000005"]
    code, _, err = run_cli("train", folder, "--steps", 1, "--runs-dir", tmp_path / "runs", "--checkpoint-every", "2d")
    assert code == 2 and "--checkpoint-every" in err


def test_default_adam_learning_rates_follow_the_resolution_and_say_why():
    from kgan.options import TrainOptions

    def settled(resolution, **given):
        options = TrainOptions(**given)
        options.validate()
        return options, options.settle(500, resolution)

    options, reasons = settled(28)
    assert (options.generator_lr, options.discriminator_lr) == (2e-3, 2e-3)
    assert reasons["learning_rates"] == "auto -> 0.002 (Adam at 28 px)"
    options, _ = settled(128)
    assert (options.generator_lr, options.discriminator_lr) == (2e-3, 2e-3)
    options, _ = settled(256)
    assert (options.generator_lr, options.discriminator_lr) == (2e-4, 2e-4)
    options, reasons = settled(28, generator_lr=1e-4, discriminator_lr=3e-4)
    assert (options.generator_lr, options.discriminator_lr) == (1e-4, 3e-4) and "learning_rates" not in reasons
    options, _ = settled(28, loss="wgan-gp")
    assert options.generator_lr == 1e-4  # WGAN-GP keeps its published rate


def test_the_default_batch_follows_the_device_and_says_why():
    from kgan.options import TrainOptions

    options = TrainOptions().validate()
    reasons = options.settle(500, 28)
    assert options.batch_size == 32 and reasons["batch_size"] == "auto -> 32 (CPU at 28 px)"
    options = TrainOptions().validate()
    assert options.settle(500, 128)["batch_size"] == "auto -> 32 (CPU at 128 px)" and options.batch_size == 32
    options = TrainOptions().validate()
    assert options.settle(500, 256)["batch_size"] == "auto -> 64 (CPU at 256 px)" and options.batch_size == 64
    options = TrainOptions().validate()
    reasons = options.settle(500, 28, on_gpu=True)
    assert reasons["batch_size"] == "auto -> 64 (GPU at 28 px)" and options.batch_size == 64
    options = TrainOptions(batch_size=48).validate()
    assert "batch_size" not in options.settle(500, 28) and options.batch_size == 48


def test_d_is_spectrally_normalized_at_64_px_by_default_and_says_why():
    from kgan.options import TrainOptions

    options = TrainOptions().validate()
    reasons = options.settle(500, 64)
    assert options.d_norm == "spectral" and reasons["d_norm"] == "auto -> spectral (at 64 px)"
    options = TrainOptions().validate()
    assert options.settle(500, 128)["d_norm"] == "auto -> spectral (at 128 px)" and options.d_norm == "spectral"
    for resolution in (28, 32, 256):
        options = TrainOptions().validate()
        assert options.settle(500, resolution)["d_norm"] == f"auto -> batch (at {resolution} px)"
        assert options.d_norm == "batch"
    for given in ({"r1": 1.0}, {"loss": "wgan-gp"}, {"arch": "seed"}):
        options = TrainOptions(**given).validate()
        assert "d_norm" not in options.settle(500, 64) and options.d_norm == "none"  # a penalty, or the seed's D
    options = TrainOptions(d_norm="batch").validate()
    assert "d_norm" not in options.settle(500, 64) and options.d_norm == "batch"


def test_init_is_the_dcgan_papers_for_dcgan_at_33_to_128_px_says_why_and_reaches_the_networks(tmp_path, run_cli):
    from kgan.checkpoints import load_for_training
    from kgan.options import TrainOptions

    for resolution in (64, 128):
        options = TrainOptions().validate()
        assert options.settle(500, resolution)["init"] == f"auto -> dcgan (dcgan at {resolution} px)"
        assert options.init == "dcgan"
    for given, resolution in (({}, 28), ({}, 256), ({"arch": "lean"}, 64), ({"arch": "seed"}, 64)):
        options = TrainOptions(**given).validate()
        assert options.settle(500, resolution)["init"].startswith("auto -> glorot (") and options.init == "glorot"
    options = TrainOptions(init="glorot").validate()
    assert "init" not in options.settle(500, 64) and options.init == "glorot"
    assert TrainOptions.from_json({"data_dir": str(tmp_path)}).init == "glorot"  # runs made before --init

    runs = tmp_path / "runs"
    code, _, _ = run_cli("train", make_folder(tmp_path / "images"), "--steps", 1, "--runs-dir", runs, "--name", "r",
                         *TINY_TRAIN_ARGS, "--init", "dcgan")  # fmt: skip
    assert code == 0
    config = json.loads((runs / "r" / "config.json").read_text())
    assert config["options"]["init"] == "dcgan" and "init" not in config["choices"]
    generator, _, _, _ = load_for_training(runs / "r" / "checkpoints" / "step-000001")
    dense = next(layer for layer in generator.layers if type(layer).__name__ == "Dense")
    # One Adam step moves each weight by about the learning rate: the spread stays near 0.02 (Glorot's is 0.2 here).
    assert abs(float(dense.kernel.numpy().std()) - 0.02) < 0.004
    code, _, err = run_cli("train", "--resume", runs / "r", "--init", "glorot", "--steps", 2)
    assert code != 0 and "--init cannot change when resuming" in err and "Traceback" not in err
    code, _, err = run_cli("train", tmp_path / "images", "--init", "he", "--steps", 1)
    assert code != 0 and "--init" in err and "Traceback" not in err
    code, out, _ = run_cli("train", "--help")
    described = " ".join(out.split())
    assert code == 0 and "(auto: dcgan for --arch dcgan from 33 to 128 px, glorot otherwise)" in described
    assert "(auto: spectral from 33 to 128 px, batch otherwise, none with a gradient penalty)" in described


def test_128_px_colour_gets_the_64_px_pixel_d_recipe_by_default():
    from kgan.options import TrainOptions

    for resolution, expected in (
        (128, ("spectral", 2, "dcgan", 16, 8, "5,0.5", "none")),
        (256, ("batch", 1, "glorot", 8, 8, None, "none")),
    ):
        options = TrainOptions().validate()
        reasons = options.settle(936, resolution, 3)
        chosen = (options.d_norm, options.critic_steps, options.init, options.g_width, options.width)
        assert (*chosen, options.lookahead, options.d_features) == expected
        assert reasons["lookahead"] == f"auto -> {expected[5] or 'off'} (at {resolution} px)"


def test_a_spectrally_normalized_d_takes_two_steps_per_g_step_by_default_and_says_why():
    from kgan.options import TrainOptions

    options = TrainOptions().validate()
    reasons = options.settle(500, 64, channels=1)  # colour at 64 px gets a projected D (test_projected.py)
    assert options.critic_steps == 2 and reasons["critic_steps"] == "auto -> 2 (a spectrally normalized D)"
    options = TrainOptions(d_norm="spectral").validate()
    assert options.settle(500, 28)["critic_steps"] == "auto -> 2 (a spectrally normalized D)"
    pixels_only = {"d_features": "none"}
    for given, resolution in (({}, 28), ({}, 256), ({"d_norm": "batch", **pixels_only}, 64), ({"r1": 1.0}, 64)):
        options = TrainOptions(**given).validate()
        assert options.settle(500, resolution)["critic_steps"] == "auto -> 1 (no spectrally normalized D)"
        assert options.critic_steps == 1
    options = TrainOptions(loss="wgan-gp").validate()
    assert "critic_steps" not in options.settle(500, 64) and options.critic_steps == 5
    options = TrainOptions(critic_steps=1).validate()
    assert "critic_steps" not in options.settle(500, 64) and options.critic_steps == 1


def test_the_learning_rate_cooldown_is_on_by_default_and_can_be_switched_off(tmp_path, run_cli):
    from kgan.options import AUTO_LR_COOLDOWN, TrainOptions

    options = TrainOptions().validate()
    reasons = options.settle(500, 28)
    assert options.lr_cooldown == AUTO_LR_COOLDOWN and reasons["lr_cooldown"].startswith(f"auto -> {AUTO_LR_COOLDOWN}")
    options = TrainOptions(lr_cooldown="off").validate()
    assert options.lr_cooldown == 0.0 and "lr_cooldown" not in options.settle(500, 28)
    options = TrainOptions(lr_cooldown=0.5).validate()
    assert options.lr_cooldown == 0.5 and "lr_cooldown" not in options.settle(500, 28)
    code, _, err = run_cli("train", make_folder(tmp_path / "images"), "--lr-cooldown", "1.5", "--steps", 1)
    assert code != 0 and "--lr-cooldown" in err and "not a fraction from 0 to 1" in err and "Traceback" not in err


def test_a_cooldown_fraction_takes_both_ends_and_a_decay_neither():
    import click

    from kgan.cli import AutoOffOrDecay

    fraction, decay = AutoOffOrDecay("FRACTION", fraction=True), AutoOffOrDecay()
    assert fraction.convert("0", None, None) == 0.0 and fraction.convert("1", None, None) == 1.0
    assert decay.convert("0.99", None, None) == 0.99
    for value in ("0", "1"):
        with pytest.raises(click.BadParameter, match="between 0 and 1 \\(both excluded\\)"):
            decay.convert(value, None, None)
    with pytest.raises(click.BadParameter, match="not a fraction from 0 to 1"):
        fraction.convert("-0.1", None, None)


def test_mirroring_follows_the_colours_and_says_why(run_cli):
    from kgan.errors import OptionError
    from kgan.options import AUTO_MIRROR_CHANNELS, TrainOptions, auto_mirror

    for channels in (1, 3):
        options = TrainOptions().validate()
        reasons = options.settle(1_569, 64, channels=channels)
        chosen, why = auto_mirror(channels)
        assert options.mirror is chosen is (channels in AUTO_MIRROR_CHANNELS)
        assert reasons["mirror"] == f"auto -> {'on' if chosen else 'off'} ({why})"
    for given, expected in (("on", True), ("off", False)):
        options = TrainOptions(mirror=given).validate()
        assert options.settle(300, 28, channels=1).get("mirror") is None and options.mirror is expected
    with pytest.raises(OptionError, match="--mirror must be auto, on or off"):
        TrainOptions(mirror="sometimes").validate()
    older = TrainOptions.from_json({"data_dir": "/images", "seed": 1})
    assert older.mirror is False  # runs from before --mirror saw their images as they are
    code, out, _ = run_cli("train", "--help")
    assert code == 0 and "--mirror [auto|on|off]" in out


def test_augmentation_follows_the_folder_size_and_says_why(run_cli):
    from kgan.options import AUTO_AUGMENT_BY_IMAGES, TrainOptions

    def settled(image_count, **given):
        options = TrainOptions(**given).validate()
        return options, options.settle(image_count, 28)

    (small, small_policies), (limit, policies) = AUTO_AUGMENT_BY_IMAGES
    assert (small, small_policies, policies) == (1_000, "translation,color", "translation") and limit > small
    options, reasons = settled(300)
    assert options.augment == small_policies and reasons["augment"] == f"auto -> {small_policies} (300 images)"
    options, _ = settled(small)
    assert options.augment == small_policies
    options, reasons = settled(small + 1)
    assert options.augment == policies and reasons["augment"] == f"auto -> {policies} (1,001 images)"
    options, _ = settled(limit)
    assert options.augment == policies
    options, reasons = settled(limit + 1)
    assert options.augment is None and reasons["augment"] == f"auto -> off ({limit + 1:,} images, more than {limit:,})"
    options, reasons = settled(60_000)
    assert options.augment is None and "60,000 images" in reasons["augment"]
    options, reasons = settled(300, augment="off")
    assert options.augment is None and "augment" not in reasons
    options, _ = settled(60_000, augment="cutout")
    assert options.augment == "cutout"
    code, out, _ = run_cli("train", "--help")
    described = f"translation,color up to 1,000 images, translation up to {limit:,} images, none above"
    assert code == 0 and described in " ".join(out.split())


def test_default_widths_follow_the_resolution_and_the_help_says_them(run_cli):
    from kgan.options import default_width, describe_auto_widths

    assert [default_width("dcgan", side) for side in (28, 32, 64, 128, 256)] == [48, 48, 16, 8, 8]
    assert describe_auto_widths() == "48 up to 32 px, 16 up to 64 px, 8 above"
    code, out, _ = run_cli("train", "--help")
    assert code == 0 and "48 up to 32 px, 16 up to 64 px, 8" in " ".join(out.split())


def test_g_width_is_its_own_option_and_auto_says_how_it_follows_d(tmp_path, run_cli):
    from kgan.checkpoints import load_for_training
    from kgan.options import G_WIDTH_FACTOR_BY_RESOLUTION, TrainOptions, default_g_width, describe_auto_g_widths

    for resolution in (28, 64, 128, 256):
        options = TrainOptions().validate()
        reasons = options.settle(500, resolution)
        factor = next(factor for limit, factor in G_WIDTH_FACTOR_BY_RESOLUTION if resolution <= limit)
        assert options.g_width == factor * options.width and reasons["g_width"].startswith(f"auto -> {options.g_width}")
    assert default_g_width("seed", 64, 64) == 64
    options = TrainOptions(width=8, g_width=12).validate()
    assert "g_width" not in options.settle(500, 64) and (options.width, options.g_width) == (8, 12)
    older = TrainOptions.from_json({"data_dir": str(tmp_path), "width": 8})
    assert older.g_width == 8  # runs made before --g-width: G mirrored D

    runs = tmp_path / "runs"
    code, _, _ = run_cli("train", make_folder(tmp_path / "images"), "--steps", 2, "--runs-dir", runs, "--name", "r",
                         *TINY_TRAIN_ARGS, "--g-width", 12)  # fmt: skip
    assert code == 0
    generator, discriminator, _, _ = load_for_training(runs / "r" / "checkpoints" / "step-000002")
    last_hidden = [layer for layer in generator.layers if type(layer).__name__ == "Conv2DTranspose"][-2]
    first_d = next(layer for layer in discriminator.layers if type(layer).__name__ == "Conv2D")
    assert (last_hidden.filters, first_d.filters) == (12, 8)
    config = json.loads((runs / "r" / "config.json").read_text())
    assert (config["model"]["width"], config["model"]["g_width"]) == (8, 12)
    code, out, _ = run_cli("info", "r", "--runs-dir", runs)
    assert code == 0 and "width D 8, G 12" in out
    code, _, err = run_cli("train", tmp_path / "images", "--g-width", 0, "--steps", 1)
    assert code != 0 and "--g-width" in err and "Traceback" not in err
    code, out, _ = run_cli("train", "--help")
    assert code == 0 and describe_auto_g_widths() in " ".join(out.split())

"""kgan dream: gradient ascent on the image, octaves, guides, zoom videos, and bad input."""

import numpy as np
import pytest
from PIL import Image

from kgan.backend import keras_module
from kgan.tools.dream import Dreamer, DreamSettings, keras_file_model, to_pixels

keras = keras_module()


@pytest.fixture(scope="module")
def small_cnn(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="low"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu", padding="same", name="high"),
        ]
    )
    path = tmp_path_factory.mktemp("dream") / "small.keras"
    model.save(path)
    return path


def _picture(width=40, height=30, mode="RGB"):
    rng = np.random.default_rng(0)
    array = rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)
    return Image.fromarray(array).convert(mode)


def test_the_objective_rises_over_the_steps(small_cnn):
    dreamer = Dreamer(keras_file_model(small_cnn), DreamSettings(layers=("high",), steps=12, octaves=1, step_size=2))
    pixels = to_pixels(_picture(), 3)
    result = dreamer.dream(pixels)
    history = dreamer.objective_history
    assert len(history) == 12 and history[-1] > history[0] * 1.2
    assert dreamer.objective(result) > dreamer.objective(pixels)
    assert result.min() >= 0 and result.max() <= 255


def test_octaves_run_from_small_to_full_size(small_cnn):
    dreamer = Dreamer(keras_file_model(small_cnn), DreamSettings(steps=2, octaves=3, octave_scale=1.5))
    result = dreamer.dream(to_pixels(_picture(45, 30), 3))
    assert dreamer.octaves_run == 3 and len(dreamer.objective_history) == 6
    assert result.shape == (30, 45, 3)


def test_a_guide_changes_the_result(small_cnn):
    pixels = to_pixels(_picture(), 3)
    plain = Dreamer(keras_file_model(small_cnn), DreamSettings(steps=8, octaves=1, seed=3)).dream(pixels)
    guide = Image.fromarray(np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))).convert("RGB")
    guided_dreamer = Dreamer(keras_file_model(small_cnn), DreamSettings(steps=8, octaves=1, seed=3), guide)
    guided = guided_dreamer.dream(pixels)
    assert np.abs(plain - guided).mean() > 1.0
    # The guided objective (the match with the guide's features) rises too.
    assert guided_dreamer.objective(guided) > guided_dreamer.objective(pixels) * 1.1


def test_large_images_are_dreamt_in_tiles_at_full_size(small_cnn):
    dreamer = Dreamer(keras_file_model(small_cnn), DreamSettings(steps=1, octaves=1))
    result = dreamer.dream(to_pixels(_picture(600, 20), 3))
    assert result.shape == (20, 600, 3)


def test_cli_keeps_the_input_size_and_gives_the_models_mode(small_cnn, tmp_path, run_cli):
    source = tmp_path / "sprite.png"
    _picture(37, 23, "RGBA").save(source)
    out = tmp_path / "dreamt.png"
    code, stdout, err = run_cli("dream", source, "--model", small_cnn, "--steps", 3, "--octaves", 2, "--out", out)
    assert code == 0, err
    assert "objective" in stdout
    with Image.open(out) as dreamt:
        assert dreamt.size == (37, 23) and dreamt.mode == "RGB"


def test_cli_dreams_with_the_runs_discriminator_by_default(trained_run, tmp_path, run_cli):
    source = tmp_path / "photo.jpg"
    _picture(50, 34).save(source)
    out = tmp_path / "d.png"
    code, stdout, err = run_cli("dream", source, "--runs-dir", trained_run.parent, "--steps", 2, "--out", out)
    assert code == 0, err
    assert "dreaming with discriminator" in stdout
    with Image.open(out) as dreamt:
        assert dreamt.size == (50, 34) and dreamt.mode == "L"  # the run trained on gray images


def test_list_layers_prints_names_and_shapes(small_cnn, run_cli):
    code, out, _ = run_cli("dream", "--model", small_cnn, "--list-layers")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[1].split()[0] == "low" and "8)" in lines[1] and lines[2].split()[0] == "high"


def test_zoom_video_has_the_requested_frames(small_cnn, tmp_path, run_cli):
    import imageio.v2 as imageio

    source = tmp_path / "p.png"
    _picture(32, 32).save(source)
    out = tmp_path / "dive.mp4"
    args = ["--model", small_cnn, "--steps", 2, "--octaves", 1, "--frames", 5, "--zoom", 1.1, "--out", out]
    code, _, err = run_cli("dream", source, *args)
    assert code == 0, err
    assert sum(1 for _ in imageio.get_reader(out)) == 5


@pytest.mark.parametrize("problem", ["missing", "corrupt", "folder"])
def test_a_bad_image_gives_one_line_and_a_nonzero_exit(small_cnn, tmp_path, run_cli, problem):
    path = tmp_path / "bad.png"
    if problem == "corrupt":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    elif problem == "folder":
        path.mkdir()
    code, _, err = run_cli("dream", path, "--model", small_cnn)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "bad.png" in lines[0]


def test_unknown_layers_and_models_are_one_line_errors(small_cnn, tmp_path, run_cli):
    source = tmp_path / "p.png"
    _picture().save(source)
    code, _, err = run_cli("dream", source, "--model", small_cnn, "--layer", "nope")
    assert code == 2 and "no layer 'nope'" in err
    code, _, err = run_cli("dream", source, "--model", "resnet")
    assert code == 2 and "--model must be" in err


def test_imagenet_weights_offline_give_one_line_naming_weights(tmp_path, run_cli, monkeypatch):
    import keras.src.utils.file_utils as file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    source = tmp_path / "p.png"
    _picture().save(source)
    code, _, err = run_cli("dream", source, "--model", "vgg16")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--weights PATH" in err

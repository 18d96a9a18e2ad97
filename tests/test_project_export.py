"""Real images in, generators out: projection, walks between pictures, truncation, export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_TRAIN_ARGS, make_folder, shape_image


def _png(path: Path, index: int = 1, color: bool = False, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shape_image(index, size, color).save(path)
    return path


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kgan.cli import main
    from tests.conftest import _run_cli

    base = tmp_path_factory.mktemp("conditional")
    folder = make_folder(base / "images")
    runs = base / "runs"
    args = ["train", str(folder), "--steps", "3", "--seed", "1", "--runs-dir", str(runs), "--name", "c"]
    assert _run_cli(main, [*args, *TINY_TRAIN_ARGS, "--conditional"]) == 0
    return runs / "c"


# Projection


def test_projection_lowers_its_loss_and_its_latent_redraws_the_reconstruction(trained_run, tmp_path, run_cli):
    from kgan.tools.generator import load_generator_source
    from kgan.tools.project import Projector, ProjectSettings

    picture = _png(tmp_path / "in" / "shape.png")
    source = load_generator_source(str(trained_run), trained_run.parent)
    projection = Projector(source, ProjectSettings(steps=30, starts=3)).project(picture)
    assert projection.losses[-1] < projection.losses[0]
    assert projection.target.shape == projection.reconstruction.shape == (16, 16, 1)

    out = tmp_path / "projected"
    code, stdout, err = run_cli("project", picture, "--run", trained_run, "--steps", 30, "--starts", 3, "--out", out)
    assert code == 0, err
    assert "PSNR" in stdout and "perceptual" in stdout
    assert {p.name for p in out.iterdir()} == {"shape.npy", "shape.png", "shape-compare.png", "projection.json"}
    assert _read(out / "shape-compare.png").shape[1] > 2 * 16  # target and reconstruction side by side
    code, _, err = run_cli("sample", "--run", trained_run, "--latents", out / "shape.npy", "--out", tmp_path / "again")
    assert code == 0, err
    assert (tmp_path / "again" / "sample-0000.png").read_bytes() == (out / "shape.png").read_bytes()


def test_projection_takes_any_mode_and_size_and_a_bad_file_does_not_stop_the_others(trained_run, tmp_path, run_cli):
    rgba = tmp_path / "in" / "big.png"
    rgba.parent.mkdir(parents=True)
    Image.new("RGBA", (70, 40), (200, 30, 30, 128)).save(rgba)
    broken = tmp_path / "in" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "projected"
    code, stdout, err = run_cli(
        "project", broken, rgba, "--run", trained_run, "--steps", 3, "--starts", 2, "--out", out
    )
    assert code == 1
    assert "broken.png" in stdout and "Traceback" not in stdout + err
    assert (out / "big.npy").is_file() and not (out / "broken.npy").exists()
    info = json.loads((out / "projection.json").read_text())
    assert len(info["images"]) == 1 and len(info["failed"]) == 1


def test_projection_with_video_writes_the_optimisation(trained_run, tmp_path, run_cli):
    picture = _png(tmp_path / "in" / "s.png")
    out = tmp_path / "projected"
    code, _, err = run_cli(
        "project", picture, "--run", trained_run, "--steps", 6, "--starts", 2, "--video", "--out", out
    )
    assert code == 0, err
    assert (out / "s.mp4").stat().st_size > 0


def test_conditional_projection_keeps_the_label_or_tries_every_class(conditional_run, tmp_path, run_cli):
    from kgan.tools.generator import load_generator_source
    from kgan.tools.project import Projector, ProjectSettings

    source = load_generator_source(str(conditional_run), conditional_run.parent)
    picture = _png(tmp_path / "p.png")
    fixed = Projector(source, ProjectSettings(steps=2, starts=2, label="a")).project(picture)
    assert list(fixed.latent[source.latent_dim :]) == list(source.condition.label_codes("a"))
    tried = Projector(source, ProjectSettings(steps=2, starts=1))._starts(0)[1]
    assert len(tried) == 2 and sorted(np.argmax(tried, axis=1)) == [0, 1]  # one start per class at least
    code, _, err = run_cli("project", picture, "--run", conditional_run, "--label", "nope", "--out", tmp_path / "o")
    assert code == 2 and "nope" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--steps", "0"], "--steps"),
        (["--weights", "w.h5"], "--weights goes with --features vgg16"),
        (["--truncation", "1.5"], "--truncation"),
    ],
)
def test_impossible_projection_options_are_one_line(trained_run, tmp_path, run_cli, args, message):
    picture = _png(tmp_path / "p.png")
    code, _, err = run_cli("project", picture, "--run", trained_run, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_vgg_features_without_weights_offline_say_where_to_get_them(trained_run, tmp_path, run_cli):
    picture = _png(tmp_path / "p.png")
    code, _, err = run_cli(
        "project", picture, "--run", trained_run, "--features", "vgg16", "--weights", tmp_path / "no.h5"
    )
    assert code == 2 and "no.h5" in err


# Walking between pictures, saved latents


def test_between_passes_through_the_projected_pictures_at_the_key_frames(trained_run, tmp_path, run_cli):
    from kgan.tools.generator import load_generator_source
    from kgan.tools.project import Projector, ProjectSettings, cached_latent
    from kgan.tools.video import walk_through

    pictures = [_png(tmp_path / f"k{i}.png", index=i) for i in range(3)]
    out = tmp_path / "between.gif"
    code, stdout, err = run_cli("video", "--between", *pictures, "--run", trained_run, "--frames", 12, "--out", out)
    assert code == 0, err
    assert "through 3 pictures" in stdout
    with Image.open(out) as gif:
        assert gif.n_frames >= 2  # identical neighbours merge in a GIF; the count is checked on the inputs
    source = load_generator_source(str(trained_run), trained_run.parent)
    projector = Projector(source, ProjectSettings())
    keys = np.stack([cached_latent(source, projector, p) for p in pictures])  # reused, not projected again
    cached = sorted((trained_run / "projected" / "latents").iterdir())
    assert len(cached) == 3
    path = walk_through(keys[:, None, :], 12, source.latent_dim)
    assert path.shape == (12, 1, source.input_size)
    for k in range(3):
        assert np.array_equal(path[4 * k, 0], keys[k])
        assert np.array_equal(source.images(path[4 * k]), source.images(keys[k][None]))
    assert not np.array_equal(path[1, 0], keys[0])


def test_video_and_sample_read_saved_latents_and_say_what_is_wrong_with_them(trained_run, tmp_path, run_cli):
    from kgan.tools.generator import load_generator_source

    source = load_generator_source(str(trained_run), trained_run.parent)
    good = tmp_path / "two.npy"
    np.save(good, np.random.default_rng(0).standard_normal((2, source.input_size)).astype(np.float32))
    code, stdout, err = run_cli(
        "video", "--latents", good, "--run", trained_run, "--frames", 6, "--out", tmp_path / "w.gif"
    )
    assert code == 0, err
    assert "6 frames" in stdout
    code, _, err = run_cli("sample", "--latents", good, "--run", trained_run, "--out", tmp_path / "s")
    assert code == 0 and len(list((tmp_path / "s").glob("sample-*.png"))) == 2
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, source.input_size + 1), np.float32))
    junk = tmp_path / "junk.npy"
    junk.write_text("hello")
    for bad, words in ((wrong, "shape"), (junk, "not a NumPy"), (tmp_path / "none.npy", "no such file")):
        code, _, err = run_cli("sample", "--latents", bad, "--run", trained_run, "--out", tmp_path / "x")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("video", "--between", good, "--run", trained_run)
    assert code == 2 and "at least two" in err


# Truncation


def test_truncation_one_is_no_truncation_and_a_seed_and_psi_repeat_exactly(trained_run, tmp_path, run_cli):
    def sample(name, *extra):
        code, _, err = run_cli("sample", "-n", 6, "--seed", 5, "--run", trained_run, "--out", tmp_path / name, *extra)
        assert code == 0, err
        return (tmp_path / name / "grid.png").read_bytes()

    plain = sample("plain")
    assert sample("one", "--truncation", "1") == plain
    assert sample("half", "--truncation", "0.5") == sample("half-again", "--truncation", "0.5")
    assert sample("half", "--truncation", "0.5") != plain
    info = json.loads((tmp_path / "half" / "sample.json").read_text())
    assert info["truncation"] == 0.5
    code, _, err = run_cli("sample", "--truncation", "0", "--run", trained_run)
    assert code == 2 and "--truncation" in err


def test_truncation_moves_only_the_noise_toward_its_average():
    from kgan.tools.latents import truncate

    inputs = np.array([[2.0, -4.0, 1.0, 0.0]], np.float32)
    assert np.array_equal(truncate(inputs, 2, 0.5), [[1.0, -2.0, 1.0, 0.0]])
    assert truncate(inputs, 2, 1.0) is inputs


def test_truncated_videos_are_smaller_walks(trained_run, tmp_path, run_cli):
    code, _, err = run_cli(
        "video", "--truncation", "0.7", "--frames", 4, "--seed", 1, "--run", trained_run, "--out", tmp_path / "t.gif"
    )
    assert code == 0, err


# Export


def _noise(source, count=5):
    return np.random.default_rng(3).standard_normal((count, source.latent_dim)).astype(np.float32)


def _expected(source, noise, codes=None):
    inputs = noise if codes is None else np.concatenate([noise, codes], axis=1)
    return source.images(inputs)


def _within_one_level(a, b):
    assert a.dtype == np.uint8 and a.shape == b.shape
    assert int(np.abs(a.astype(np.int16) - b).max()) <= 1


def test_savedmodel_export_runs_without_kgan_and_matches_sample(trained_run, tmp_path, run_cli):
    import tensorflow as tf

    from kgan.tools.generator import load_generator_source

    out = tmp_path / "saved"
    code, stdout, err = run_cli("export", "--run", trained_run, "--format", "savedmodel", "--out", out)
    assert code == 0, err
    assert (out / "saved_model.pb").is_file() and "noise" in (out / "README.md").read_text()
    source = load_generator_source(str(trained_run), trained_run.parent)
    noise = _noise(source)
    loaded = tf.saved_model.load(str(out))  # kept: its variables live as long as this object
    pictures = loaded.serve(noise).numpy()
    _within_one_level(pictures, _expected(source, noise))
    code, _, err = run_cli("export", "--run", trained_run, "--out", out)
    assert code == 2 and "already exists" in err


def test_tflite_export_matches_sample(trained_run, tmp_path, run_cli):
    import tensorflow as tf

    from kgan.tools.generator import load_generator_source

    out = tmp_path / "g.tflite"
    code, _, err = run_cli("export", "--run", trained_run, "--format", "tflite", "--out", out)
    assert code == 0, err
    assert (tmp_path / "g.tflite.README.md").is_file()
    source = load_generator_source(str(trained_run), trained_run.parent)
    noise = _noise(source, 1)
    interpreter = tf.lite.Interpreter(model_path=str(out))
    runner = interpreter.get_signature_runner()
    pictures = list(runner(noise=noise).values())[0]
    _within_one_level(pictures, _expected(source, noise))
    code, _, err = run_cli("export", "--run", trained_run, "--format", "tflite", "--out", tmp_path / "g.bin")
    assert code == 2 and ".tflite" in err


def test_a_run_trained_in_bfloat16_exports_a_float32_tflite_model(tmp_path, run_cli):
    """TFLite's own interpreter has no bfloat16 matrix product: the export rebuilds G in float32."""
    import tensorflow as tf

    from kgan.tools.generator import load_generator_source

    runs = tmp_path / "runs"
    args = ["--steps", 2, "--precision", "bfloat16", "--runs-dir", runs, "--name", "b", *TINY_TRAIN_ARGS]
    assert run_cli("train", make_folder(tmp_path / "images"), *args)[0] == 0
    out = tmp_path / "g.tflite"
    code, _, err = run_cli("export", "--run", runs / "b", "--format", "tflite", "--out", out)
    assert code == 0, err
    source = load_generator_source(str(runs / "b"), runs)
    assert source.generator.layers[0].dtype_policy.name == "mixed_bfloat16"
    noise = _noise(source, 2)
    pictures = list(tf.lite.Interpreter(model_path=str(out)).get_signature_runner()(noise=noise).values())[0]
    expected = _expected(source, noise)
    assert pictures.dtype == np.uint8 and pictures.shape == expected.shape
    # bfloat16 keeps 8 bits of mantissa: the float32 copy draws the same picture to a few levels.
    assert np.abs(pictures.astype(np.int16) - expected).mean() < 4


def test_onnx_export_of_a_conditional_run_matches_sample(conditional_run, tmp_path, run_cli):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from kgan.tools.generator import load_generator_source

    out = tmp_path / "g.onnx"
    code, _, err = run_cli("export", "--run", conditional_run, "--format", "onnx", "--out", out)
    assert code == 0, err
    assert '["a", "b"]' in (tmp_path / "g.onnx.README.md").read_text()
    source = load_generator_source(str(conditional_run), conditional_run.parent)
    noise = _noise(source)
    codes = source.condition.per_class_codes(5)[:5].astype(np.float32)
    session = onnxruntime.InferenceSession(str(out))
    names = [i.name for i in session.get_inputs()]
    assert names == ["noise", "codes"]
    pictures = session.run(None, {"noise": noise, "codes": codes})[0]
    _within_one_level(pictures, _expected(source, noise, codes))


def test_onnx_export_without_its_converter_names_the_extra(trained_run, tmp_path, run_cli, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tf2onnx(name, *args, **kwargs):
        if name == "tf2onnx":
            raise ImportError("No module named 'tf2onnx'", name="tf2onnx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tf2onnx)
    code, _, err = run_cli("export", "--run", trained_run, "--format", "onnx", "--out", tmp_path / "g.onnx")
    assert code == 2 and "kgan[onnx]" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.onnx").exists()

"""FID, KID, kgan eval, TensorBoard logs, kgan runs and kgan info: all without a network."""

import json

import numpy as np
import pytest
from scipy import linalg

from kgan.tools.metrics import (
    feature_statistics,
    frechet_distance,
    frechet_distance_of,
    kernel_inception_distance,
    mmd2_unbiased,
)
from tests.conftest import TINY_TRAIN_ARGS, make_folder, shape_image


def test_frechet_distance_matches_scipy_on_gaussians_with_known_statistics():
    rng = np.random.default_rng(0)
    dimension = 6
    a, b = rng.normal(size=(dimension, dimension)), rng.normal(size=(dimension, dimension))
    cov_a, cov_b = a @ a.T + np.eye(dimension), b @ b.T + 0.5 * np.eye(dimension)
    mean_a, mean_b = rng.normal(size=dimension), rng.normal(size=dimension)
    root = linalg.sqrtm(cov_a @ cov_b).real
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * root)
    assert frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)
    # Diagonal covariances have a closed form: sum of squared mean and standard-deviation gaps.
    var_a, var_b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    closed = np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2) + 1.0
    assert frechet_distance(np.zeros(3), np.diag(var_a), np.array([1.0, 0, 0]), np.diag(var_b)) == pytest.approx(closed)


def test_frechet_distance_of_samples_approaches_the_true_value():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, size=(20000, 3))
    y = rng.normal(0.5, 2.0, size=(20000, 3))
    # True distance: 3 * 0.5^2 + 3 * (2 - 1)^2 = 3.75
    assert frechet_distance_of(x, y) == pytest.approx(3.75, rel=0.03)
    assert frechet_distance_of(x, x) == pytest.approx(0.0, abs=1e-6)
    mean, cov = feature_statistics(x)
    assert mean.shape == (3,) and cov.shape == (3, 3)


def test_kid_unbiased_estimator_on_known_inputs():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([[2.0, 0.0], [0.0, 0.0], [1.0, 2.0]])

    def kernel(u, v):
        return (u @ v / 2 + 1) ** 3

    n = 3
    xx = sum(kernel(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(n) for j in range(n)) / (n * n)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)
    assert mmd2_unbiased(x, x) < 0  # unbiased: the diagonal terms are left out, so it can dip below zero


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(2)
    same, spread = kernel_inception_distance(rng.normal(size=(600, 8)), rng.normal(size=(600, 8)), 200, 20)
    shifted, _ = kernel_inception_distance(rng.normal(size=(600, 8)), rng.normal(1.0, size=(600, 8)), 200, 20)
    assert abs(same) < 3 * spread + 0.01 and shifted > 0.1


@pytest.fixture(scope="module")
def tiny_feature_model(tmp_path_factory):
    from kgan.backend import keras_module

    keras = keras_module()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(6),
        ]
    )
    path = tmp_path_factory.mktemp("features") / "tiny.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory, tiny_feature_model):
    from kgan.cli import main

    base = tmp_path_factory.mktemp("evaluated")
    folder = make_folder(base / "images", count=12)
    args = [
        "train",
        str(folder),
        "--runs-dir",
        str(base / "runs"),
        "--name",
        "r",
        "--steps",
        "4",
        "--seed",
        "2",
        "--eval-every",
        "2",
        "--eval-n",
        "16",
        "--eval-features",
        str(tiny_feature_model),
        *TINY_TRAIN_ARGS,
    ]
    try:
        main(args)
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    return base / "runs" / "r", folder


def test_eval_every_records_fid_and_kid_during_training(evaluated_run):
    run, _ = evaluated_run
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [record["step"] for record in records] == [2, 4]
    for record in records:
        assert record["fid"] >= 0 and np.isfinite(record["kid"]) and record["n"] == 16
        assert record["features"].endswith("tiny.keras") and record["n_real"] == 12


def test_kgan_eval_prints_and_appends_to_metrics(evaluated_run, tiny_feature_model, run_cli):
    run, folder = evaluated_run
    code, out, err = run_cli("eval", "--run", run, "--features", tiny_feature_model, "-n", 20, "--data", folder)
    assert code == 0, err
    assert "FID" in out and "KID" in out and "20 generated vs 12 real" in out
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["n"] == 20 and last["step"] == 4


def test_missing_inception_weights_give_one_line_naming_weights(evaluated_run, run_cli, monkeypatch, tmp_path):
    import keras.src.utils.file_utils as file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "get_file", offline)
    run, _ = evaluated_run
    code, _, err = run_cli("eval", "--run", run, "-n", 4)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--weights PATH" in err
    code, _, err = run_cli("eval", "--run", run, "-n", 4, "--weights", tmp_path / "nothing.h5")
    assert code == 2 and "does not exist" in err
    bogus = tmp_path / "bogus.h5"
    bogus.write_bytes(b"not weights")
    code, _, err = run_cli("eval", "--run", run, "-n", 4, "--weights", bogus)
    assert code == 2 and "cannot load InceptionV3 weights" in err and len(err.strip().splitlines()) == 1


def test_a_model_that_gives_no_feature_vector_is_refused(evaluated_run, run_cli, tmp_path):
    from kgan.backend import keras_module

    keras = keras_module()
    images_out = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(2, 3)])
    images_out.save(tmp_path / "maps.keras")
    run, _ = evaluated_run
    code, _, err = run_cli("eval", "--run", run, "--features", tmp_path / "maps.keras", "-n", 4)
    assert code == 2 and "is not a feature model" in err


def test_real_features_are_cached_and_a_changed_file_invalidates_them(tmp_path, tiny_feature_model):
    from kgan.tools.evaluation import RealImages, keras_features, real_features

    folder = make_folder(tmp_path / "images", count=6, size=16)
    model = keras_features(tiny_feature_model)
    calls = []
    original = model.features

    def counting(images):
        calls.append(len(images))
        return original(images)

    model.features = counting
    real = RealImages(folder, 16, 1)
    first = real_features(real, model, tmp_path / "cache")
    second = real_features(real, model, tmp_path / "cache")
    assert calls == [6] and np.array_equal(first, second)
    shape_image(30, size=16).save(folder / "a" / "new.png")
    third = real_features(real, model, tmp_path / "cache")
    assert calls == [6, 7] and len(third) == 7


def test_tensorboard_logs_hold_losses_speed_metrics_and_the_sample_grid(evaluated_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run, _ = evaluated_run
    events = EventAccumulator(str(run / "logs"), size_guidance={"tensors": 0, "images": 0})
    events.Reload()
    tags = set(events.Tags()["tensors"])
    for tag in ("loss/discriminator", "loss/generator", "speed/images_per_second", "metrics/fid", "metrics/kid"):
        assert tag in tags
    steps = [event.step for event in events.Tensors("loss/generator")]
    assert steps == [1, 2, 3, 4]
    assert "samples" in tags  # images are stored as tensors by tf.summary.image


def test_tensorboard_scalars_are_written_in_batches_under_their_own_names(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from kgan.backend import tensorflow_module
    from kgan.recorder import TensorBoardLog

    tf = tensorflow_module()

    def logged(name):
        events = EventAccumulator(str(tmp_path), size_guidance={"tensors": 0})
        events.Reload()
        if name not in events.Tags()["tensors"]:
            return []
        return [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in events.Tensors(name)]

    log = TensorBoardLog(tmp_path, scalar_batch=3)
    log.scalars(1, {"loss/generator": 0.5, "speed/images_per_second": 10.0})
    log.scalars(2, {"loss/generator": 1.0, "speed/images_per_second": 10.0})
    log.scalars(3, {"loss/generator": 1.5, "speed/images_per_second": 10.0})  # the third: a batch is written
    log.scalars(3, {"metrics/fid": 12.0})
    log.flush()
    log.scalars(4, {"loss/generator": 2.0, "speed/images_per_second": 10.0})
    log.close()
    assert logged("loss/generator") == [(1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]
    assert logged("metrics/fid") == [(3, 12.0)]


def test_kgan_runs_lists_runs_as_a_table_and_as_json(evaluated_run, run_cli):
    run, _ = evaluated_run
    code, out, _ = run_cli("runs", "--runs-dir", run.parent)
    assert code == 0
    header, row = out.splitlines()[:2]
    assert header.split()[:4] == ["RUN", "DATA", "SIZE", "ARCH/LOSS"] and "BEST" in header
    assert row.split()[0] == "r" and "16x16x1" in row and "dcgan/bce" in row
    code, out, _ = run_cli("runs", "--runs-dir", run.parent, "--json")
    (summary,) = json.loads(out)
    assert summary["step"] == 4 and summary["best_fid"] is not None and summary["d_loss"] is not None


def test_kgan_info_shows_one_run_whole(evaluated_run, run_cli):
    run, _ = evaluated_run
    code, out, _ = run_cli("info", run)
    assert code == 0
    expected = ("dcgan/bce/ema/augment at 16x16x1", "step 4", "checkpoint step 4", "metrics    step 2: FID", "auto ->")
    for part in expected:
        assert part in out
    code, out, _ = run_cli("info", "r", "--runs-dir", run.parent, "--json")
    details = json.loads(out)
    assert details["config"]["seed"] == 2 and len(details["metrics"]) >= 2
    code, _, err = run_cli("info", "nope", "--runs-dir", run.parent)
    assert code == 2 and "no run folder" in err

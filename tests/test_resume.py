"""Exact resume, whole-run budgets, reproducible runs, and runs that were tampered with."""

import json
import math
import shutil
import zipfile

import numpy as np
import pytest

from tests.conftest import TINY_DEFAULT_ARGS, TINY_TRAIN_ARGS, make_folder

# What a resumed or repeated run computes is checked on the default step (XLA); the rest trains graphs.
EXACT_ARGS = [*TINY_DEFAULT_ARGS, "--seed", "11", "--checkpoint-every", "2"]
ARGS = [*TINY_TRAIN_ARGS, "--seed", "11", "--checkpoint-every", "2"]


def _weights(checkpoint):
    from kgan.checkpoints import load_for_training

    generator, discriminator, _, state = load_for_training(checkpoint)
    arrays = [v.numpy() for v in generator.weights + discriminator.weights]
    arrays += [v.numpy() for v in generator.optimizer.variables + discriminator.optimizer.variables]
    return arrays, state


def _losses(run):
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("elapsed_seconds", "images_per_second")}
        for line in (run / "logs" / "losses.jsonl").read_text().splitlines()
    ]


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "images", count=10)


def test_resumed_run_ends_with_the_same_weights_as_a_straight_one(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    # The budget grows from 3 to 6 steps here, so the learning rates must not follow it (see the cooldown's test).
    # Mirrored real images as well, so that which of them are flipped is part of what must resume exactly.
    held = [*EXACT_ARGS, "--lr-cooldown", "off", "--mirror", "on"]
    assert run_cli("train", folder, "--steps", 6, "--runs-dir", runs, "--name", "straight", *held)[0] == 0
    assert run_cli("train", folder, "--steps", 3, "--runs-dir", runs, "--name", "halves", *held)[0] == 0
    code, out, err = run_cli("train", "--resume", runs / "halves", "--steps", 6, "--runs-dir", runs)
    assert code == 0, err
    straight, straight_state = _weights(runs / "straight" / "checkpoints" / "step-000006")
    resumed, resumed_state = _weights(runs / "halves" / "checkpoints" / "step-000006")
    assert len(straight) == len(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert straight_state.images_seen == resumed_state.images_seen == 6 * 8
    assert _losses(runs / "straight") == _losses(runs / "halves")
    for step in ("000004", "000006"):
        name = f"step-{step}.png"
        assert (runs / "straight" / "samples" / name).read_bytes() == (runs / "halves" / "samples" / name).read_bytes()
    config = json.loads((runs / "halves" / "config.json").read_text())
    assert config["resumed"][0]["at_step"] == 3 and config["options"]["steps"] == 6


def test_several_steps_per_call_train_sample_and_checkpoint_as_one_step_per_call(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    # Samples every 2 steps and checkpoints every 3 (TINY_TRAIN_ARGS): calls of 2 steps run only where they fit
    # before the next of either and before the budget's end, single steps elsewhere; the cooldown changes the
    # learning rates at every step.
    for name, per_call in (("single", 1), ("pairs", 2)):
        argv = ["train", folder, "--steps", 7, "--runs-dir", runs, "--name", name, "--steps-per-execution", per_call]
        code, _, err = run_cli(*argv, *TINY_TRAIN_ARGS, "--seed", 11)
        assert code == 0, err
    single, single_state = _weights(runs / "single" / "checkpoints" / "step-000007")
    pairs, pairs_state = _weights(runs / "pairs" / "checkpoints" / "step-000007")
    for a, b in zip(single, pairs):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    assert single_state.images_seen == pairs_state.images_seen == 7 * 8
    assert [record["step"] for record in _losses(runs / "pairs")] == list(range(1, 8))
    for record, expected in zip(_losses(runs / "pairs"), _losses(runs / "single")):
        assert record["d_loss"] == pytest.approx(expected["d_loss"], abs=1e-5)
    for what in ("samples", "checkpoints"):
        assert sorted(p.name for p in (runs / "pairs" / what).iterdir()) == sorted(
            p.name for p in (runs / "single" / what).iterdir()
        )
    config = json.loads((runs / "pairs" / "config.json").read_text())
    assert config["runtime"]["steps_per_execution"] == 2 and config["options"]["steps_per_execution"] == 2


def test_mirrored_real_images_reach_d_and_the_choice_holds_on_resume(tmp_path, run_cli):
    from PIL import Image

    folder = tmp_path / "left"
    folder.mkdir()
    for index in range(8):  # bright on the left only, so a mirrored picture differs from its original
        pixels = np.zeros((16, 16), dtype=np.uint8)
        pixels[:, : 3 + index % 3] = 200 + index
        Image.fromarray(pixels, "L").save(folder / f"{index}.png")
    runs = tmp_path / "runs"
    for name, mirror in (("plain", "auto"), ("mirrored", "on")):
        argv = ["train", folder, "--steps", 2, "--runs-dir", runs, "--name", name, *ARGS, "--mirror", mirror]
        assert run_cli(*argv)[0] == 0
    plain, mirrored = _losses(runs / "plain"), _losses(runs / "mirrored")
    assert plain[0]["d_loss"] != mirrored[0]["d_loss"]
    config = json.loads((runs / "plain" / "config.json").read_text())
    assert config["options"]["mirror"] is False and config["choices"]["mirror"].startswith("auto -> off (gray images")
    code, _, err = run_cli("train", "--resume", "mirrored", "--runs-dir", runs, "--steps", 3, "--mirror", "off")
    assert code == 2 and "--mirror cannot change" in err and len(err.strip().splitlines()) == 1
    assert run_cli("train", "--resume", "mirrored", "--runs-dir", runs, "--steps", 3, "--mirror", "on")[0] == 0
    # The spellings a run was started with are the same options on resuming (saved as False and 0.0).
    again = ["--mirror", "off", "--grow", "off", "--lookahead", "off"]
    code, _, err = run_cli("train", "--resume", "plain", "--runs-dir", runs, "--steps", 3, *again)
    assert code == 0, err


def test_budgets_count_the_whole_run(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    assert run_cli("train", folder, "--steps", 2, "--runs-dir", runs, "--name", "r", *ARGS)[0] == 0
    assert run_cli("train", "--resume", "r", "--runs-dir", runs)[0] == 0  # budget already spent
    assert [c.name for c in (runs / "r" / "checkpoints").iterdir()] == ["step-000002"]
    assert run_cli("train", "--resume", "r", "--runs-dir", runs, "--steps", 4)[0] == 0
    assert sorted(c.name for c in (runs / "r" / "checkpoints").iterdir())[-1] == "step-000004"
    assert [record["step"] for record in _losses(runs / "r")] == [1, 2, 3, 4]


def test_options_that_shape_the_networks_cannot_change_on_resume(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    assert run_cli("train", folder, "--steps", 2, "--runs-dir", runs, "--name", "r", *ARGS)[0] == 0
    code, _, err = run_cli("train", "--resume", "r", "--runs-dir", runs, "--arch", "seed")
    assert code == 2 and "--arch cannot change when resuming" in err
    code, _, err = run_cli("train", "--resume", "r", "--runs-dir", runs, "--batch-size", 4)
    assert code == 2 and "--batch-size" in err
    code, _, err = run_cli("train", "--resume", tmp_path / "nope", "--runs-dir", runs)
    assert code == 2 and "no run folder" in err


def test_same_seed_gives_identical_weights_and_samples(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    for name in ("one", "two"):
        assert run_cli("train", folder, "--steps", 4, "--runs-dir", runs, "--name", name, *EXACT_ARGS)[0] == 0
    one, _ = _weights(runs / "one" / "checkpoints" / "step-000004")
    two, _ = _weights(runs / "two" / "checkpoints" / "step-000004")
    assert all(np.array_equal(a, b) for a, b in zip(one, two))
    for sample in (runs / "one" / "samples").iterdir():
        assert sample.read_bytes() == (runs / "two" / "samples" / sample.name).read_bytes()
    other_seed = [*TINY_DEFAULT_ARGS, "--seed", 12]
    assert run_cli("train", folder, "--steps", 4, "--runs-dir", runs, "--name", "three", *other_seed)[0] == 0
    three, _ = _weights(runs / "three" / "checkpoints" / "step-000004")
    assert not all(np.array_equal(a, b) for a, b in zip(one, three))


def test_a_run_killed_before_its_first_checkpoint_starts_again(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    assert run_cli("train", folder, "--steps", 2, "--runs-dir", runs, "--name", "r", *ARGS)[0] == 0
    shutil.rmtree(runs / "r" / "checkpoints")
    (runs / "r" / "checkpoints").mkdir()
    (runs / "r" / "checkpoints" / ".tmp-step-000002-999").mkdir()  # a save cut short by a kill
    code, out, _ = run_cli("train", "--resume", "r", "--runs-dir", runs)
    assert code == 0
    assert [c.name for c in (runs / "r" / "checkpoints").iterdir()] == ["step-000002"]


@pytest.fixture
def finished_run(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    assert run_cli("train", folder, "--steps", 2, "--runs-dir", runs, "--name", "r", *ARGS)[0] == 0
    return runs / "r"


def _one_line_error(result, *words):
    code, _, err = result
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0]


def test_a_tampered_generator_file_is_named(finished_run, run_cli):
    generator = finished_run / "checkpoints" / "step-000002" / "generator.keras"
    generator.write_bytes(generator.read_bytes()[:-100] + b"x" * 100)
    _one_line_error(run_cli("sample", "--run", finished_run, "--no-ema"), "generator.keras", "checksum")
    _one_line_error(run_cli("train", "--resume", finished_run, "--steps", 3), "generator.keras")


def test_a_tampered_moving_average_file_is_named(finished_run, run_cli):
    average = finished_run / "checkpoints" / "step-000002" / "generator_ema.keras"
    average.write_bytes(average.read_bytes()[:-100] + b"x" * 100)
    _one_line_error(run_cli("sample", "--run", finished_run), "generator_ema.keras", "checksum")


def test_a_truncated_state_file_is_named(finished_run, run_cli):
    state = finished_run / "checkpoints" / "step-000002" / "state.json"
    state.write_text(state.read_text()[:20])
    _one_line_error(run_cli("train", "--resume", finished_run, "--steps", 3), "state.json", "damaged")


def test_a_missing_model_file_is_named(finished_run, run_cli):
    (finished_run / "checkpoints" / "step-000002" / "discriminator.keras").unlink()
    _one_line_error(run_cli("train", "--resume", finished_run, "--steps", 3), "discriminator.keras", "missing")


def test_config_is_checked_against_the_known_options(finished_run, run_cli):
    config = json.loads((finished_run / "config.json").read_text())
    config["options"]["run_this"] = "import os"
    (finished_run / "config.json").write_text(json.dumps(config))
    _one_line_error(run_cli("train", "--resume", finished_run), "config.json", "unknown option 'run_this'")
    del config["options"]["run_this"]
    config["options"]["batch_size"] = "64; rm -rf /"
    (finished_run / "config.json").write_text(json.dumps(config))
    _one_line_error(run_cli("train", "--resume", finished_run), "config.json", "batch_size")
    (finished_run / "config.json").write_text("{not json")
    _one_line_error(run_cli("train", "--resume", finished_run), "config.json", "damaged")


def test_a_missing_sample_noise_file_is_named(finished_run, run_cli):
    (finished_run / "sample_noise.npy").unlink()
    _one_line_error(run_cli("train", "--resume", finished_run, "--steps", 3), "sample_noise.npy", "missing")


def test_loading_never_runs_code_from_a_model_file(tmp_path, run_cli):
    from kgan.backend import keras_module

    keras = keras_module()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: x * 2), keras.layers.Reshape((2, 2, 1))])
    path = tmp_path / "sneaky.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assert b"Lambda" in archive.read("config.json")
    _one_line_error(run_cli("sample", "--run", path, "--out", tmp_path / "out"), "sneaky.keras")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_learning_rate_cooldown_and_lookahead_resume_exactly(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    # Lookahead synchronises at steps 3 and 6, so step 6 needs the slow copies saved at step 4.
    cooled = ["--lr-cooldown", "0.5", "--g-lr", "0.003", "--d-lr", "0.006", "--lookahead", "3,0.5"]
    options = ["--runs-dir", runs, "--name", "straight", *EXACT_ARGS, *cooled]
    assert run_cli("train", folder, "--steps", 6, *options)[0] == 0
    # The last step ran at the rates times (1 - 5/6) / 0.5 = 1/3, each optimizer from its own rate.
    generator, discriminator, _, _ = _load(runs / "straight" / "checkpoints" / "step-000006")
    assert float(generator.optimizer.learning_rate) == pytest.approx(0.001)
    assert float(discriminator.optimizer.learning_rate) == pytest.approx(0.002)
    # Resumed from step 4, where the saved rates are already lowered, the schedule goes on from the options.
    shutil.copytree(runs / "straight", runs / "cut")
    shutil.rmtree(runs / "cut" / "checkpoints" / "step-000006")
    code, _, err = run_cli("train", "--resume", runs / "cut", "--runs-dir", runs)
    assert code == 0, err
    straight, _ = _weights(runs / "straight" / "checkpoints" / "step-000006")
    resumed, _ = _weights(runs / "cut" / "checkpoints" / "step-000006")
    for a, b in zip(straight, resumed):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    assert json.loads((runs / "cut" / "config.json").read_text())["options"]["lookahead"] == "3,0.5"


def test_lookahead_copies_are_checked_on_resume(folder, tmp_path, run_cli):
    runs = tmp_path / "runs"
    assert run_cli("train", folder, "--steps", 2, "--runs-dir", runs, "--name", "r", *ARGS, "--lookahead", "5")[0] == 0
    checkpoint = runs / "r" / "checkpoints" / "step-000002"
    saved = checkpoint / "lookahead.npz"
    original = saved.read_bytes()
    saved.write_bytes(original[:-100] + b"x" * 100)
    _one_line_error(run_cli("train", "--resume", runs / "r", "--steps", 3), "lookahead.npz", "checksum")
    saved.unlink()
    _one_line_error(run_cli("train", "--resume", runs / "r", "--steps", 3), "lookahead", "missing")
    saved.write_bytes(original)
    _one_line_error(run_cli("train", "--resume", runs / "r", "--lookahead", "off", "--steps", 3), "lookahead")
    _one_line_error(run_cli("train", folder, "--lookahead", "0,0.5", "--runs-dir", runs), "--lookahead")


def _load(checkpoint):
    from kgan.checkpoints import load_for_training

    return load_for_training(checkpoint)


def test_the_cooldown_follows_whichever_budget_ends_first():
    from kgan.loop import cooldown_factor

    assert cooldown_factor(0.25, 75, 100, 0.0, math.inf) == 1.0
    assert cooldown_factor(0.25, 90, 100, 0.0, math.inf) == pytest.approx(0.4)
    assert cooldown_factor(0.25, 100, 100, 0.0, math.inf) == 0.0
    assert cooldown_factor(0.25, 10, None, 450.0, 480.0) == pytest.approx(0.25)
    assert cooldown_factor(0.25, 90, 100, 450.0, 480.0) == pytest.approx(0.25)  # time runs out first
    assert cooldown_factor(0.25, 10**6, None, 10**6, math.inf) == 1.0  # no budget, no cooldown


def test_an_older_run_resumes_as_the_graph_it_was_trained_as_and_the_compiler_may_change(finished_run, run_cli):
    config = json.loads((finished_run / "config.json").read_text())
    del config["options"]["compiler"]  # as written before --compile existed
    (finished_run / "config.json").write_text(json.dumps(config))
    code, out, err = run_cli("train", "--resume", finished_run, "--steps", 3)
    assert code == 0, err
    assert "graph steps" in out
    assert json.loads((finished_run / "config.json").read_text())["options"]["compiler"] == "graph"
    code, out, err = run_cli("train", "--resume", finished_run, "--steps", 4, "--compile", "xla")
    assert code == 0, err
    assert "XLA steps" in out
    # config.json says how the latest stretch ran.
    assert json.loads((finished_run / "config.json").read_text())["runtime"]["compiler"] == "xla"

"""Stopping, killing, diverging and running out of disk never lose the last good checkpoint."""

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAIN_ARGS, make_folder

REPO = Path(__file__).parent.parent
ARGS = [*TINY_TRAIN_ARGS, "--seed", "5", "--checkpoint-every", "2"]


def _start(*argv) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "kgan", *[str(a) for a in argv]]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_step(run: Path, step: int, process: subprocess.Popen, timeout: float = 60) -> None:
    log = run / "logs" / "losses.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and len(log.read_text().splitlines()) >= step:
            return
        if process.poll() is not None:
            raise AssertionError(f"training ended early: {process.communicate()}")
        time.sleep(0.05)
    raise AssertionError("training did not reach the step in time")


@pytest.mark.parametrize("signal_number, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_save_say_where_and_exit(tmp_path, signal_number, exit_code):
    folder = make_folder(tmp_path / "images")
    run = tmp_path / "runs" / "r"
    talkative = [arg for arg in ARGS if arg != "--quiet"]
    process = _start("train", folder, "--steps", 100000, "--runs-dir", tmp_path / "runs", "--name", "r", *talkative)
    _wait_for_step(run, 3, process)
    process.send_signal(signal_number)
    out, err = process.communicate(timeout=60)
    assert process.returncode == exit_code, err
    stopped = [line for line in out.splitlines() if line.startswith("stopped at step")]
    assert stopped and "checkpoint" in stopped[0]
    step = int(stopped[0].split()[3].replace(",", ""))
    assert (run / "checkpoints" / f"step-{step:06d}" / "generator.keras").is_file()


def _logged_steps(run: Path) -> int:
    log = run / "logs" / "losses.jsonl"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_sigkill_at_random_moments_then_resume_ends_complete_and_loadable(tmp_path, run_cli):
    folder = make_folder(tmp_path / "images")
    runs, total = tmp_path / "runs", 400
    run = runs / "r"
    rng = random.Random(0)
    process = _start("train", folder, "--steps", total, "--runs-dir", runs, "--name", "r", *ARGS)
    killed_at = []
    for _ in range(5):
        # Wait until this process has trained a little, then kill it anywhere:
        # mid-step, mid-checkpoint (one every 2 steps) or mid-log.
        _wait_for_step(run, _logged_steps(run) + 3, process)
        time.sleep(rng.uniform(0.0, 0.3))
        process.kill()
        process.wait()
        killed_at.append(_logged_steps(run))
        process = _start("train", "--resume", run, "--runs-dir", runs)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert killed_at == sorted(killed_at) and killed_at[-1] < total  # every kill landed mid-run
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints[-1] == f"step-{total:06d}" and not any(name.startswith(".tmp") for name in checkpoints)
    steps = [json.loads(line)["step"] for line in (run / "logs" / "losses.jsonl").read_text().splitlines()]
    assert steps == list(range(1, total + 1))
    code, out, err = run_cli("sample", "-n", 2, "--run", run, "--out", tmp_path / "after")
    assert code == 0, err


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tmp_path, run_cli, monkeypatch):
    from kgan.gan.step import GanTrainer

    real_step = GanTrainer.train_step
    calls = {"n": 0}

    def failing_step(self, *args, **kwargs):
        calls["n"] += 1
        metrics = real_step(self, *args, **kwargs)
        return {**metrics, "g_loss": float("nan")} if calls["n"] == 3 else metrics

    monkeypatch.setattr(GanTrainer, "train_step", failing_step)
    folder = make_folder(tmp_path / "images")
    code, _, err = run_cli("train", folder, "--steps", 10, "--runs-dir", tmp_path / "runs", "--name", "r", *ARGS)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "NaN or infinite at step 3" in err and "step-000002" in err
    assert [p.name for p in (tmp_path / "runs" / "r" / "checkpoints").iterdir()] == ["step-000002"]


def test_a_full_disk_is_a_clear_error_and_earlier_checkpoints_stay(tmp_path, run_cli, monkeypatch):
    from kgan.backend import keras_module

    keras = keras_module()
    real_save = keras.Model.save
    saves = {"n": 0}

    def save_until_full(self, path, *args, **kwargs):
        saves["n"] += 1
        if saves["n"] > 3:  # the second checkpoint's generator (after G, D and G's EMA): the disk is full
            Path(path).write_bytes(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(self, path, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "save", save_until_full)
    folder = make_folder(tmp_path / "images")
    code, _, err = run_cli("train", folder, "--steps", 10, "--runs-dir", tmp_path / "runs", "--name", "r", *ARGS)
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    checkpoints = sorted((tmp_path / "runs" / "r" / "checkpoints").iterdir())
    assert [p.name for p in checkpoints] == ["step-000002"]
    monkeypatch.setattr(keras.Model, "save", real_save)
    assert run_cli("sample", "-n", 1, "--run", tmp_path / "runs" / "r", "--out", tmp_path / "ok")[0] == 0


def test_an_unwritable_runs_folder_is_a_clear_error(tmp_path, run_cli):
    folder = make_folder(tmp_path / "images")
    blocker = tmp_path / "file"
    blocker.write_text("a file where the runs folder should be")
    code, _, err = run_cli("train", folder, "--steps", 1, "--runs-dir", blocker / "runs", *ARGS)
    assert code == 2 and "cannot create the runs folder" in err and len(err.strip().splitlines()) == 1

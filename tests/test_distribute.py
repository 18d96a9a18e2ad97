"""tf.distribute: two replicas on one machine, and two worker processes, match one device."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_DEFAULT_ARGS, make_folder

REPO = Path(__file__).parent.parent
# Lookahead synchronises at step 2 (as the 64 px default does every 5): its copies must move alike on every replica.
ARGS = [*TINY_DEFAULT_ARGS, "--seed", "21", "--steps", "3", "--precision", "float32", "--lookahead", "2,0.5"]


def _kgan(*argv, env: dict | None = None, wait: bool = True):
    command = [sys.executable, "-m", "kgan", *[str(a) for a in argv]]
    process = subprocess.Popen(
        command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if not wait:
        return process
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


def _weights(run: Path) -> list[np.ndarray]:
    from kgan.checkpoints import load_for_training

    generator, discriminator, _, _ = load_for_training(run / "checkpoints" / "step-000003")
    return [v.numpy() for v in generator.weights + discriminator.weights]


def _assert_close(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=2e-5)


@pytest.fixture(scope="module")
def single_device_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("distribute")
    folder = make_folder(base / "images", count=10)
    code, _, err = _kgan("train", folder, "--runs-dir", base / "runs", "--name", "single", *ARGS)
    assert code == 0, err
    return folder, base / "runs" / "single"


def test_two_logical_cpus_match_one_device_on_the_same_global_batch(single_device_run, tmp_path):
    folder, single = single_device_run
    code, out, err = _kgan(
        "train", folder, "--strategy", "mirrored", "--runs-dir", tmp_path, "--name", "mirrored",
        *[a for a in ARGS if a != "--quiet"], env={"KGAN_LOGICAL_CPUS": "2"},
    )  # fmt: skip
    assert code == 0, err
    assert "mirrored strategy (2 replicas)" in out
    config = json.loads((tmp_path / "mirrored" / "config.json").read_text())
    # Replicas run graph steps; one device runs XLA steps (--compile auto, float32, a CPU).
    assert config["runtime"] == {"strategy": "mirrored", "replicas": 2, "compiler": "graph", "steps_per_execution": 1}
    assert json.loads((single / "config.json").read_text())["runtime"]["compiler"] == "xla"
    _assert_close(_weights(single), _weights(tmp_path / "mirrored"))


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_together_and_only_the_chief_writes(single_device_run, tmp_path):
    folder, single = single_device_run
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    runs = tmp_path / "runs"
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    processes = []
    for index in (1, 0):
        env = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        if index == 1:
            env["TMPDIR"] = str(scratch)
        processes.append(
            _kgan("train", folder, "--strategy", "multiworker", "--runs-dir", runs, "--name", "together", *ARGS,
                  env=env, wait=False)
        )  # fmt: skip
    for process in processes:
        _, err = process.communicate(timeout=240)
        assert process.returncode == 0, err
    assert [p.name for p in runs.iterdir()] == ["together"]
    config = json.loads((runs / "together" / "config.json").read_text())
    assert config["runtime"] == {
        "strategy": "multiworker",
        "replicas": 2,
        "compiler": "graph",
        "steps_per_execution": 1,
    }
    assert list(scratch.iterdir()) == []  # the worker's scratch run was removed
    _assert_close(_weights(single), _weights(runs / "together"))


def test_a_batch_that_does_not_split_across_replicas_is_refused(tmp_path):
    folder = make_folder(tmp_path / "images", count=4)
    code, _, err = _kgan(
        "train", folder, "--strategy", "mirrored", "--batch-size", 7, "--runs-dir", tmp_path / "runs",
        *ARGS[: ARGS.index("--batch-size")], env={"KGAN_LOGICAL_CPUS": "2"},
    )  # fmt: skip
    assert code == 2 and "does not split evenly across 2 replicas" in err and len(err.strip().splitlines()) == 1


def test_multiworker_without_tf_config_is_a_clear_error(tmp_path, run_cli, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    folder = make_folder(tmp_path / "images", count=4)
    code, _, err = run_cli("train", folder, "--strategy", "multiworker", "--runs-dir", tmp_path / "runs", *ARGS)
    assert code == 2 and "TF_CONFIG" in err

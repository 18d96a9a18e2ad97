"""Runs that cannot collide, a cache that heals, and writes that fail whole.

Each test makes the failure happen on purpose: processes started together, a
kill in the middle of a save or a cache build, a disk that fills up.
"""

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from kgan.files import Numbered, publish_file
from kgan.images.folders import load_image_folder
from kgan.runs import Run, create_run
from tests.conftest import TINY_TRAIN_ARGS, make_folder

REPO = Path(__file__).parent.parent


def _kgan(*argv, env=None) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "-m", "kgan", *[str(a) for a in argv]]
    return subprocess.Popen(
        command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _all_at_once(count, work):
    """Run ``work(i)`` on ``count`` threads released together; returns the results."""
    barrier, results, errors = threading.Barrier(count), [None] * count, []

    def target(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - the test reports it
            errors.append(error)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


# Names that cannot collide.


def test_run_folders_created_at_once_are_all_different(tmp_path):
    runs = _all_at_once(16, lambda i: create_run(tmp_path / "runs", None, "pics").path)
    assert len(set(runs)) == 16 and sorted(p.name for p in runs)[0] == "pics-1"


def test_sample_folders_and_numbered_files_made_at_once_are_all_different(tmp_path):
    run = Run(tmp_path / "run")
    folders = _all_at_once(16, lambda i: run.new_numbered_folder("generated"))
    assert len(set(folders)) == 16

    def write(i):
        return publish_file(Numbered(tmp_path / "videos", "walk", ".txt"), lambda path: path.write_text(str(i)))[0]

    paths = _all_at_once(16, write)
    assert sorted(p.name for p in paths) == [f"walk-{n:03d}.txt" for n in range(1, 17)]
    assert sorted(p.read_text() for p in paths) == sorted(str(i) for i in range(16))  # each kept its own bytes
    assert [p.name for p in (tmp_path / "videos").iterdir() if p.name.startswith(".")] == []


def test_two_trainings_started_together_get_two_run_folders(tmp_path):
    folder = make_folder(tmp_path / "pics", count=4)
    args = ["train", folder, "--steps", 1, "--runs-dir", tmp_path / "runs", *TINY_TRAIN_ARGS]
    processes = [_kgan(*args) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["pics-1", "pics-2"]


# The data cache.


def test_two_processes_building_the_same_cache_both_succeed_and_leave_one_valid_entry(tmp_path):
    folder = make_folder(tmp_path / "pics", count=40, color=True)
    cache, go = tmp_path / "cache", tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from kgan.images.folders import load_image_folder\n"
        "while not pathlib.Path(sys.argv[3]).exists(): time.sleep(0.001)\n"
        "f = load_image_folder(sys.argv[1], resolution=16, cache_dir=sys.argv[2])\n"
        "print(f.cache, int(f.images.sum()))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(folder), str(cache), str(go)], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    time.sleep(0.5)
    go.touch()
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.split())
    assert {states[1] for states in outputs} == {outputs[0][1]}  # the same images
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".u8"]  # one entry, no leftovers
    assert load_image_folder(folder, resolution=16, cache_dir=cache).cache == "read"


def test_a_kill_while_the_cache_is_built_leaves_nothing_read_as_valid(tmp_path):
    folder = make_folder(tmp_path / "pics", count=60)
    cache = tmp_path / "cache"
    script = (
        "import sys, time\n"
        "from kgan.images import cache\n"
        "from kgan.images.folders import load_image_folder\n"
        "real_add = cache.CacheSink.add\n"
        "def slow_add(self, image):\n"
        "    real_add(self, image); self._stream.flush(); print('added', flush=True); time.sleep(0.05)\n"
        "cache.CacheSink.add = slow_add\n"
        "load_image_folder(sys.argv[1], resolution=16, cache_dir=sys.argv[2])\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(folder), str(cache)], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    for _ in range(5):
        assert process.stdout.readline().strip() == "added"
    process.kill()
    process.wait()
    assert [p.name for p in cache.iterdir() if not p.name.startswith(".")] == []  # only a temporary file
    loaded = load_image_folder(folder, resolution=16, cache_dir=cache)
    assert loaded.cache == "written" and loaded.images.shape == (60, 16, 16, 1)
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".u8"]  # the dead build's file is gone


def test_an_unwritable_cache_mid_build_falls_back_to_memory_in_one_line(tmp_path, monkeypatch):
    from kgan.images import cache as cache_module

    def full(self, image):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cache_module.CacheSink, "add", full)
    folder = make_folder(tmp_path / "pics", count=4)
    loaded = load_image_folder(folder, resolution=16, cache_dir=tmp_path / "cache")
    assert loaded.cache.startswith("unavailable (cannot write") and "No space left" in loaded.cache
    assert loaded.images.shape == (4, 16, 16, 1)
    assert list((tmp_path / "cache").iterdir()) == []


# A kill inside a checkpoint save.


def test_a_kill_inside_a_checkpoint_save_keeps_the_previous_one_and_resume_goes_on(tmp_path, run_cli):
    folder = make_folder(tmp_path / "pics", count=8)
    runs, run = tmp_path / "runs", tmp_path / "runs" / "r"
    args = [*TINY_TRAIN_ARGS, "--seed", "2", "--checkpoint-every", "4"]
    process = _kgan("train", folder, "--steps", 12, "--runs-dir", runs, "--name", "r", *args,
                    env={"KGAN_TEST_PAUSE_IN_SAVE": "8:60"})  # fmt: skip
    deadline = time.monotonic() + 90
    while not list((run / "checkpoints").glob(".tmp-step-000008-*/PAUSED")):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert [p.name for p in (run / "checkpoints").iterdir() if not p.name.startswith(".")] == ["step-000004"]
    code, out, err = run_cli("sample", "-n", 1, "--run", run, "--out", tmp_path / "from-4")
    assert code == 0, err
    code, out, err = run_cli("train", "--resume", run, "--runs-dir", runs)
    assert code == 0, err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-000004", "step-000008", "step-000012"]
    steps = [json.loads(line)["step"] for line in (run / "logs" / "losses.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))


# Write errors: one line, nothing partial, the last checkpoint still good.


@pytest.fixture
def disk_full_under(monkeypatch):
    """Make fsync fail with ENOSPC for files whose path contains a given text (as a full disk would)."""
    real_fsync = os.fsync

    def arm(fragment: str) -> None:
        def fsync(descriptor):
            target = os.readlink(f"/proc/self/fd/{descriptor}")
            if fragment in target:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_fsync(descriptor)

        monkeypatch.setattr(os, "fsync", fsync)

    return arm


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see which file is synced")
def test_a_full_disk_while_writing_a_sample_grid_is_one_line_and_keeps_the_checkpoint(
    tmp_path, run_cli, disk_full_under
):
    folder = make_folder(tmp_path / "pics", count=4)
    runs, run = tmp_path / "runs", tmp_path / "runs" / "r"
    args = [*TINY_TRAIN_ARGS, "--checkpoint-every", "3", "--sample-every", "5"]
    disk_full_under("step-000005.png")
    code, _, err = run_cli("train", folder, "--steps", 8, "--runs-dir", runs, "--name", "r", *args)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "step-000005.png" in err and "No space left on device" in err
    assert not any("step-000005" in p.name for p in (run / "samples").iterdir())
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-000003"]
    assert run_cli("sample", "-n", 1, "--run", run, "--out", tmp_path / "ok")[0] == 0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see which file is synced")
@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_full_disk_while_writing_a_video_leaves_no_file(trained_run, tmp_path, run_cli, disk_full_under, suffix):
    videos = trained_run / "videos"
    before = sorted(videos.iterdir()) if videos.exists() else []
    disk_full_under(".tmp-")
    code, _, err = run_cli("video", "--run", trained_run, "--frames", 4, "--size", 32)
    assert code != 0 and len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert "walk-" in err and (sorted(videos.iterdir()) if videos.exists() else []) == before
    out = tmp_path / f"clip{suffix}"
    code, _, err = run_cli("video", "--run", trained_run, "--frames", 4, "--size", 32, "--out", out)
    assert code != 0 and f"clip{suffix}" in err and list(tmp_path.glob("*clip*")) == []


def test_numbered_outputs_never_overwrite_and_a_failed_write_leaves_nothing(tmp_path):
    target = Numbered(tmp_path, "grid", ".bin")
    first, _ = publish_file(target, lambda path: path.write_bytes(b"one"))
    second, _ = publish_file(target, lambda path: path.write_bytes(b"two"))
    assert (first.name, second.name) == ("grid-001.bin", "grid-002.bin") and first.read_bytes() == b"one"

    def fails(path):
        path.write_bytes(b"half")
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    from kgan.errors import RunError

    with pytest.raises(RunError, match="cannot write .*grid-NNN.bin: Input/output error"):
        publish_file(target, fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid-001.bin", "grid-002.bin"]
    np.testing.assert_equal(second.read_bytes(), b"two")

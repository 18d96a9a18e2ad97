"""Shared fixtures: tiny image folders and a tiny trained run, all made by the tests."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The data cache goes to a throwaway folder, never the user's ~/.cache.
os.environ["KGAN_CACHE_DIR"] = tempfile.mkdtemp(prefix="kgan-test-cache-")

TINY_TRAIN_ARGS = [
    "--resolution",
    "16",
    "--width",
    "8",
    "--latent-dim",
    "8",
    "--batch-size",
    "8",
    "--sample-every",
    "2",
    "--checkpoint-every",
    "3",
    "--quiet",
]
# The default compiles each run's step with XLA (on a CPU in float32), which costs seconds per run; the
# tests of the step and of what it computes (test_trainer, test_variants, test_resume, test_distribute)
# train with the default, and the many tests of everything around the step train graphs.
TINY_DEFAULT_ARGS = TINY_TRAIN_ARGS
TINY_TRAIN_ARGS = [*TINY_DEFAULT_ARGS, "--compile", "graph"]


def shape_image(index: int, size: int = 24, color: bool = False) -> Image.Image:
    """A simple picture: a bright square or disc on a dark background, placed by index."""
    rng = np.random.default_rng(index)
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    yy, xx = np.mgrid[:size, :size]
    center = size // 2 + (index % 3) - 1
    radius = size // 4 + index % 2
    if index % 2:
        mask = (yy - center) ** 2 + (xx - center) ** 2 <= radius**2
    else:
        mask = (abs(yy - center) <= radius) & (abs(xx - center) <= radius)
    tint = rng.integers(80, 255, size=3) if color else np.full(3, rng.integers(150, 255))
    canvas[mask] = tint
    return Image.fromarray(canvas, "RGB") if color else Image.fromarray(canvas[..., 0], "L")


def make_folder(root: Path, count: int = 12, color: bool = False, size: int = 24) -> Path:
    """Write ``count`` small PNG images into two class subfolders under ``root``."""
    for index in range(count):
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        shape_image(index, size, color).save(folder / f"{index:03d}.png")
    return root


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "images")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained for 4 steps through the CLI, shared by the sample and video tests."""
    from kgan.cli import main

    base = tmp_path_factory.mktemp("trained")
    folder = make_folder(base / "images")
    runs = base / "runs"
    code = _run_cli(
        main, ["train", str(folder), "--steps", "4", "--seed", "3", "--runs-dir", str(runs), *TINY_TRAIN_ARGS]
    )
    assert code == 0
    (run,) = runs.iterdir()
    return run


def _run_cli(main, argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture):
    """Run the kgan CLI in this process; returns (exit code, stdout, stderr)."""
    from kgan.cli import main

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = _run_cli(main, [str(arg) for arg in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a test whose body failed, so fixtures can keep evidence (the browser tests' screenshots)."""
    outcome = yield
    if call.when == "call" and outcome.get_result().failed:
        item.failed_call = True


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """Put Keras's global dtype policy back after a test that trained in process: on a CPU with
    AMX or AVX-512 BF16, --precision auto sets mixed_bfloat16, and the next test's models would
    otherwise be built in bfloat16 (the XLA-against-graph comparison then misses by 1e-3)."""
    yield
    from kgan.backend import keras_module

    keras_module().mixed_precision.set_global_policy("float32")

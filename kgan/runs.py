"""The run folder: one place for everything a training run makes.

    runs/<name>/
        config.json            every option, versions, the data set's fingerprint
        checkpoints/step-NNNNNN/   generator.keras, discriminator.keras, state.json
        samples/step-NNNNNN.png    grids from one fixed noise batch
        sample_noise.npy       that noise batch
        logs/losses.jsonl      one JSON line per training step
        logs/events.*          TensorBoard: losses, images/s, metrics, sample grids
        metrics.jsonl          FID and KID from kgan eval and --eval-every
        skipped.json           the files the data loader skipped, and why
        generated/NNNN/        what `kgan sample` writes
        videos/                what `kgan video` writes

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgan.errors import RunError

CHECKPOINT_NAME = re.compile(r"^step-(\d{6,})$")
SAMPLE_NAME = re.compile(r"^step-(\d{6,})\.png$")
GENERATOR_FILE = "generator.keras"
AVERAGE_FILE = "generator_ema.keras"
DISCRIMINATOR_FILE = "discriminator.keras"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Run:
    """A run folder and the paths inside it."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    @property
    def logs_dir(self) -> Path:
        return self.path / "logs"

    @property
    def losses_path(self) -> Path:
        return self.logs_dir / "losses.jsonl"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def sample_noise_path(self) -> Path:
        return self.path / "sample_noise.npy"

    @property
    def skipped_path(self) -> Path:
        return self.path / "skipped.json"

    def read_config(self) -> dict[str, Any]:
        """The run's config.json, or RunError naming the file."""
        return read_json(self.config_path)

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temporary folders are ignored)."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [p for p in self.checkpoints_dir.iterdir() if p.is_dir() and CHECKPOINT_NAME.match(p.name)]
        return sorted(found, key=checkpoint_step)

    def latest_checkpoint(self) -> Path | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def sample_grids(self) -> list[Path]:
        """The training sample grids in step order."""
        if not self.samples_dir.is_dir():
            return []
        found = [p for p in self.samples_dir.iterdir() if SAMPLE_NAME.match(p.name)]
        return sorted(found, key=lambda p: int(SAMPLE_NAME.match(p.name).group(1)))

    def new_numbered_folder(self, parent: str) -> Path:
        """Create and return ``<run>/<parent>/NNNN``, the first number not taken."""
        return _create_numbered(self.path / parent, lambda n: f"{n:04d}")


def checkpoint_step(path: Path) -> int:
    """The training step a checkpoint folder was saved at."""
    match = CHECKPOINT_NAME.match(path.name)
    if not match:
        raise RunError(f"{path} is not a checkpoint folder (expected step-NNNNNN)")
    return int(match.group(1))


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def sample_name(step: int) -> str:
    return f"step-{step:06d}.png"


def create_run(runs_dir: Path, name: str | None, name_hint: str) -> Run:
    """Create a new, empty run folder; never reuses an existing one.

    With ``name`` given, that exact folder (an error if it exists); otherwise
    ``<name_hint>-1``, ``<name_hint>-2``, ... the first that is free.
    """
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create the runs folder {runs_dir}: {error.strerror or error}") from None
    if name is not None:
        path = runs_dir / name
        try:
            path.mkdir()
        except FileExistsError:
            raise RunError(f"run {path} already exists; pick another --name or continue it with --resume") from None
        except OSError as error:
            raise RunError(f"cannot create {path}: {error.strerror or error}") from None
    else:
        hint = re.sub(r"[^A-Za-z0-9._-]+", "-", name_hint).strip("-.") or "run"
        path = _create_numbered(runs_dir, lambda n: f"{hint}-{n}")
    run = Run(path)
    for folder in (run.checkpoints_dir, run.samples_dir, run.logs_dir):
        folder.mkdir()
    return run


def _create_numbered(parent: Path, name_for: Any) -> Path:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create {parent}: {error.strerror or error}") from None
    number = 1
    while True:
        path = parent / name_for(number)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            number += 1
        except OSError as error:
            raise RunError(f"cannot create {path}: {error.strerror or error}") from None


def find_latest_run(runs_dir: Path) -> Run:
    """The run whose newest checkpoint was written last, or RunError if there is none."""
    candidates = []
    if runs_dir.is_dir():
        for path in runs_dir.iterdir():
            checkpoint = Run(path).latest_checkpoint() if path.is_dir() else None
            if checkpoint is not None:
                candidates.append((checkpoint.stat().st_mtime, path.name, Run(path)))
    if not candidates:
        raise RunError(f"no trained run in {runs_dir}/; train one first with 'kgan train DIR', or pass --run")
    return max(candidates, key=lambda item: item[:2])[2]


def find_run(run_or_name: str | Path, runs_dir: Path) -> Run:
    """A run folder given by path, or by name under ``runs_dir``; RunError if it is not a run."""
    path = Path(run_or_name)
    if not path.exists() and (runs_dir / path).exists():
        path = runs_dir / path
    if not path.is_dir():
        raise RunError(f"no run folder {run_or_name} (looked in . and {runs_dir}/)")
    run = Run(path)
    if not run.config_path.is_file():
        raise RunError(f"{path} is not a run folder: {run.config_path.name} is missing")
    return run


def resolve_checkpoint(run_or_path: str | None, runs_dir: Path) -> tuple[Run | None, Path]:
    """Find the generator to use from a run folder, run name, checkpoint folder or .keras file.

    Returns the run (None for a lone .keras file) and the checkpoint folder or file.
    """
    if run_or_path is None:
        run = find_latest_run(runs_dir)
        return run, _latest_of(run)
    path = Path(run_or_path)
    if not path.exists() and (runs_dir / run_or_path).exists():
        path = runs_dir / run_or_path
    if not path.exists():
        raise RunError(f"{run_or_path} does not exist (looked for a run folder, run name, checkpoint or .keras file)")
    if path.is_file():
        if path.suffix != ".keras":
            raise RunError(f"{path} is not a .keras model file")
        parent = path.parent
        run = Run(parent.parent.parent) if CHECKPOINT_NAME.match(parent.name) else None
        return run, path
    if CHECKPOINT_NAME.match(path.name):
        return Run(path.parent.parent), path
    run = Run(path)
    return run, _latest_of(run)


def _latest_of(run: Run) -> Path:
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise RunError(f"run {run.path} has no checkpoint yet")
    return checkpoint


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object from a file, or raise RunError naming the file."""
    try:
        with open(path, encoding="utf-8") as stream:
            value = json.load(stream)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"cannot read {path}: {error}") from None
    except json.JSONDecodeError as error:
        raise RunError(f"{path} is damaged (not valid JSON: {error.msg} at line {error.lineno})") from None
    if not isinstance(value, dict):
        raise RunError(f"{path} is damaged (expected a JSON object)")
    return value


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temporary file, flush it to disk, then rename it into place."""
    write_bytes_atomic(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either the old or the new file."""
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise RunError(f"cannot write {path}: {error.strerror or error}") from None
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

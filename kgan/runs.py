"""The run folder: one place for everything a training run makes, and the one place that reads it.

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

Every command that reads a run goes through ``Run``: ``config()`` checks
config.json into a ``RunConfig``, ``checkpoints()`` lists ``Checkpoint``s whose
``state()`` is checked the same way, and the logs are read by the one JSON
Lines reader in ``kgan.files``. A damaged or tampered file is named in a
one-line ``RunError``. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgan.errors import OptionError, RunError
from kgan.files import last_jsonl_record, read_json, read_json_list, read_jsonl, write_bytes_atomic
from kgan.gan.conditions import Condition, condition_from_json
from kgan.options import TrainOptions

CHECKPOINT_NAME = re.compile(r"^step-(\d{6,})$")
SAMPLE_NAME = re.compile(r"^step-(\d{6,})\.png$")
GENERATOR_FILE = "generator.keras"
EMA_FILE = "generator_ema.keras"
DISCRIMINATOR_FILE = "discriminator.keras"
LOOKAHEAD_FILE = "lookahead.npz"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class ModelSpec:
    """What config.json says about the networks: enough to rebuild, check or feed them."""

    arch: str
    resolution: int
    channels: int
    latent_dim: int
    width: int | None
    discriminator_output: str
    precision: str
    condition: Condition
    ema: bool
    loss: str

    @property
    def input_size(self) -> int:
        """G's input: the noise and the condition's codes."""
        return self.latent_dim + self.condition.code_size


@dataclass(frozen=True)
class RunConfig:
    """A run's config.json, checked: the seed, the options, the model and the data it trained on."""

    seed: int
    options: TrainOptions
    model: ModelSpec
    data_path: Path | None
    data_fingerprint: str | None
    document: dict[str, Any]  # the whole file, for kgan info and for rewriting it on resume

    @property
    def created_at(self) -> str | None:
        return self.document.get("created_at")


@dataclass(frozen=True)
class CheckpointState:
    """A checkpoint's state.json: the counters a resumed run continues from, and the files' digests."""

    step: int
    images_seen: int
    elapsed_seconds: float
    sha256: dict[str, str]


@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint folder, ``checkpoints/step-NNNNNN``."""

    path: Path

    @property
    def step(self) -> int:
        return checkpoint_step(self.path)

    @property
    def has_ema(self) -> bool:
        return (self.path / EMA_FILE).is_file()

    @property
    def has_lookahead(self) -> bool:
        return (self.path / LOOKAHEAD_FILE).is_file()

    def file(self, name: str) -> Path:
        return self.path / name

    def state(self) -> CheckpointState:
        """state.json, checked; RunError naming the file when it is damaged."""
        where = self.path / STATE_FILE
        state = read_json(where)
        digests = state.get("sha256", {})
        if not isinstance(digests, dict) or not all(isinstance(v, str) for v in digests.values()):
            raise RunError(f"{where} is damaged: 'sha256' is not a table of digests")
        return CheckpointState(
            step=_whole_number(state, "step", where),
            images_seen=_whole_number(state, "images_seen", where),
            elapsed_seconds=float(_number(state, "elapsed_seconds", where)),
            sha256=digests,
        )

    def megabytes(self) -> float:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file()) / 2**20


@dataclass(frozen=True)
class Run:
    """A run folder: the paths inside it, and checked readers for what they hold."""

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

    # The config.

    def config(self) -> RunConfig:
        """config.json, checked into a RunConfig; RunError naming the file when it is damaged."""
        return parse_config(read_json(self.config_path), self.config_path)

    # Checkpoints and sample grids.

    def checkpoints(self) -> list[Checkpoint]:
        """Complete checkpoints, oldest first (temporary folders are ignored)."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [p for p in self.checkpoints_dir.iterdir() if p.is_dir() and CHECKPOINT_NAME.match(p.name)]
        return [Checkpoint(path) for path in sorted(found, key=checkpoint_step)]

    def latest_checkpoint(self) -> Checkpoint | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    def sample_grids(self) -> list[Path]:
        """The training sample grids in step order."""
        if not self.samples_dir.is_dir():
            return []
        found = [p for p in self.samples_dir.iterdir() if SAMPLE_NAME.match(p.name)]
        return sorted(found, key=sample_step)

    def sample_noise(self, input_size: int) -> np.ndarray:
        """The fixed generator inputs behind the sample grids, checked against G's input size."""
        path = self.sample_noise_path
        try:
            noise = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise RunError(f"{path} is missing") from None
        except (OSError, ValueError) as error:
            raise RunError(f"{path} is damaged ({error})") from None
        if noise.dtype != np.float32 or noise.ndim != 2 or noise.shape[1] != input_size:
            raise RunError(f"{path} is damaged (expected float32 noise of shape (N, {input_size}), got {noise.shape})")
        return noise

    # The logs.

    def loss_records(self) -> Iterator[dict[str, Any]]:
        """The per-step records of logs/losses.jsonl, in order."""
        return read_jsonl(self.losses_path)

    def last_loss_record(self) -> dict[str, Any] | None:
        return last_jsonl_record(self.losses_path)

    def metric_records(self) -> list[dict[str, Any]]:
        """The FID/KID records of metrics.jsonl."""
        return list(read_jsonl(self.metrics_path))

    def elapsed_by_step(self) -> dict[int, float]:
        """Elapsed training seconds at each logged step (step 0 is 0)."""
        elapsed = {0: 0.0}
        for record in self.loss_records():
            try:
                elapsed[int(record["step"])] = float(record["elapsed_seconds"])
            except (KeyError, TypeError, ValueError):
                continue
        return elapsed

    def truncate_losses(self, step: int) -> None:
        """Drop log lines past ``step`` (the checkpoint being resumed from); they will be written again."""
        if not self.losses_path.exists():
            return
        import json

        kept = []
        for record in self.loss_records():
            try:
                if int(record["step"]) <= step:
                    kept.append(json.dumps(record) + "\n")
            except (KeyError, TypeError, ValueError):
                continue
        write_bytes_atomic(self.losses_path, "".join(kept).encode("utf-8"))

    def skipped_files(self) -> list[Any]:
        return read_json_list(self.skipped_path)

    # What sample and video write.

    def new_numbered_folder(self, parent: str) -> Path:
        """Create and return ``<run>/<parent>/NNNN``, the first number not taken."""
        return _create_numbered(self.path / parent, lambda n: f"{n:04d}")

    def outputs(self) -> tuple[list[str], list[str]]:
        """The folders ``kgan sample`` wrote and the files ``kgan video`` wrote."""
        generated = sorted(str(p) for p in (self.path / "generated").glob("*") if p.is_dir())
        videos = sorted(str(p) for p in (self.path / "videos").glob("*") if p.is_file())
        return generated, videos


def parse_config(document: dict[str, Any], where: Path) -> RunConfig:
    """Check a config.json document; RunError naming ``where`` and the bad entry."""
    seed, model = document.get("seed"), document.get("model")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise RunError(f"{where} is damaged: 'seed' is not a whole number")
    if not isinstance(model, dict):
        raise RunError(f"{where} is damaged: 'model' is missing")
    for key in ("resolution", "channels", "latent_dim"):
        if not isinstance(model.get(key), int) or isinstance(model.get(key), bool):
            raise RunError(f"{where} is damaged: 'model.{key}' is not a whole number")
    if model.get("discriminator_output") not in ("logits", "probabilities"):
        raise RunError(f"{where} is damaged: 'model.discriminator_output' is not logits or probabilities")
    try:
        condition = condition_from_json(model.get("condition"))
    except ValueError as error:
        raise RunError(f"{where} is damaged: {error}") from None
    try:
        options = TrainOptions.from_json(document.get("options"), source=str(where))
    except OptionError as error:
        raise RunError(str(error)) from None
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    spec = ModelSpec(
        arch=str(model.get("arch", options.arch)),
        resolution=model["resolution"],
        channels=model["channels"],
        latent_dim=model["latent_dim"],
        width=model.get("width") if isinstance(model.get("width"), int) else None,
        discriminator_output=model["discriminator_output"],
        precision=str(model.get("precision", "float32")),
        condition=condition,
        ema=bool(model.get("ema", options.ema is not None)),
        loss=str(model.get("loss", options.loss)),
    )
    data_path = data.get("path")
    return RunConfig(
        seed=seed,
        options=options,
        model=spec,
        data_path=Path(data_path) if isinstance(data_path, str) and data_path else None,
        data_fingerprint=data.get("fingerprint") if isinstance(data.get("fingerprint"), str) else None,
        document=document,
    )


def checkpoint_step(path: Path) -> int:
    """The training step a checkpoint folder was saved at."""
    match = CHECKPOINT_NAME.match(Path(path).name)
    if not match:
        raise RunError(f"{path} is not a checkpoint folder (expected step-NNNNNN)")
    return int(match.group(1))


def sample_step(path: Path) -> int:
    """The training step a sample grid was drawn at."""
    return int(SAMPLE_NAME.match(Path(path).name).group(1))


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
                candidates.append((checkpoint.path.stat().st_mtime, path.name, Run(path)))
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


def step_of(checkpoint_or_file: Path) -> int | None:
    """The training step of a checkpoint folder or a .keras file inside one (None for a lone file)."""
    for folder in (checkpoint_or_file, checkpoint_or_file.parent):
        if CHECKPOINT_NAME.match(folder.name):
            return checkpoint_step(folder)
    return None


def _latest_of(run: Run) -> Path:
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        raise RunError(f"run {run.path} has no checkpoint yet")
    return checkpoint.path


def _number(values: dict[str, Any], key: str, where: Path) -> float:
    value = values.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise RunError(f"{where} is damaged: {key!r} is missing or negative")
    return value


def _whole_number(values: dict[str, Any], key: str, where: Path) -> int:
    value = _number(values, key, where)
    if not isinstance(value, int):
        raise RunError(f"{where} is damaged: {key!r} is not a whole number")
    return value

"""The training loop: data in, a run folder with checkpoints and samples out.

``train`` is one function whose body reads top to bottom: load the images,
create the run folder, build the networks, then alternate D and G updates until
the budget (steps, epochs or minutes) is spent or a stop is requested. It never
prints; it reports through a ``Reporter``.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kgan import __version__
from kgan.dataset import ImageFolder, load_image_folder
from kgan.errors import TrainingDiverged
from kgan.imaging import make_grid, save_png, to_uint8
from kgan.options import TrainOptions
from kgan.runs import Run, create_run, sample_name, write_json_atomic

SAMPLE_GRID_SIZE = 64
RATE_WINDOW_STEPS = 20


@dataclass
class TrainStatus:
    """A snapshot of training, reported after every step."""

    step: int
    total_steps: int | None
    epoch: float
    d_loss: float
    g_loss: float
    d_real: float
    d_fake: float
    images_per_second: float
    elapsed_seconds: float


@dataclass
class TrainResult:
    """What a finished (or stopped) training run left behind."""

    run: Run
    step: int
    checkpoint: Path
    elapsed_seconds: float
    stopped_early: bool


class Reporter(Protocol):
    """Where the loop sends news: one-off messages and per-step status."""

    def message(self, text: str) -> None: ...

    def status(self, status: TrainStatus) -> None: ...


class SilentReporter:
    """A reporter that ignores everything (the default for library callers)."""

    def message(self, text: str) -> None:
        pass

    def status(self, status: TrainStatus) -> None:
        pass


class BatchOrder:
    """Which images make up each batch: a fresh shuffle per epoch, drawn from the seed.

    Batches run straight across epoch boundaries, so every batch is full even
    for a folder smaller than one batch, and the order depends only on the seed
    and on how many images were seen before.
    """

    def __init__(self, count: int, batch_size: int, seed: int):
        self.count, self.batch_size, self.seed = count, batch_size, seed
        self._cached_epoch, self._cached_order = -1, np.arange(0)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch != self._cached_epoch:
            self._cached_epoch = epoch
            self._cached_order = np.random.default_rng([self.seed, 0, epoch]).permutation(self.count)
        return self._cached_order

    def indices(self, images_seen: int) -> np.ndarray:
        picked: list[np.ndarray] = []
        position, needed = images_seen, self.batch_size
        while needed:
            epoch, offset = divmod(position, self.count)
            chunk = self._order(epoch)[offset : offset + needed]
            picked.append(chunk)
            position += len(chunk)
            needed -= len(chunk)
        return np.concatenate(picked)


def step_noise(seed: int, step: int, batch_size: int, latent_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The D-step and G-step noise for one step, a function of the seed and the step only."""
    rng = np.random.default_rng([seed, 1, step])
    shape = (batch_size, latent_dim)
    return rng.standard_normal(shape, dtype=np.float32), rng.standard_normal(shape, dtype=np.float32)


def sample_noise(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """The fixed noise batch behind a run's sample grids."""
    return np.random.default_rng([seed, 2]).standard_normal((count, latent_dim), dtype=np.float32)


def budget_steps(options: TrainOptions, image_count: int) -> int | None:
    """The step the run ends at from --steps and --epochs (None: only --minutes limits it)."""
    limits = []
    if options.steps is not None:
        limits.append(options.steps)
    if options.epochs is not None:
        limits.append(max(1, math.ceil(options.epochs * image_count / options.batch_size)))
    return min(limits) if limits else None


def format_elapsed(seconds: float) -> str:
    """Seconds as HH:MM:SS (hours keep counting past 99)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(
    options: TrainOptions,
    reporter: Reporter | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train a GAN as ``options`` says and return where its results are."""
    from kgan import backend

    reporter = reporter or SilentReporter()
    options.validate()
    seed = options.seed if options.seed is not None else secrets.randbelow(2**31)

    # Load training set.
    folder = load_image_folder(options.data_dir, options.resolution, options.channels, options.fit, options.background)
    reporter.message(f"{folder.summary()} from {options.data_dir}")
    resolution, channels = folder.resolution, folder.channels

    # Create the run folder and record everything that shapes the run.
    run = create_run(options.runs_dir, options.name, name_hint=_name_hint(options.data_dir))
    write_json_atomic(run.path / "config.json", _config(options, folder, seed))
    write_json_atomic(run.skipped_path, [vars(item) for item in folder.skipped])
    fixed_noise = sample_noise(seed, SAMPLE_GRID_SIZE, options.latent_dim)
    np.save(run.sample_noise_path, fixed_noise, allow_pickle=False)
    reporter.message(f"run folder: {run.path}")

    # Construct networks.
    keras = backend.keras_module()
    keras.utils.set_random_seed(seed)
    from kgan.checkpoints import save_checkpoint
    from kgan.models import DISCRIMINATOR_OUTPUT, build_discriminator, build_generator
    from kgan.trainer import GanTrainer, make_optimizer

    generator = build_generator(resolution, channels, options.latent_dim, options.width, options.arch)
    discriminator = build_discriminator(resolution, channels, options.width, options.arch)
    trainer = GanTrainer(
        generator,
        discriminator,
        make_optimizer(options.optimizer, options.generator_lr),
        make_optimizer(options.optimizer, options.discriminator_lr),
        DISCRIMINATOR_OUTPUT[options.arch],
    )
    reporter.message(
        f"{options.arch} at {resolution}x{resolution}x{channels}: "
        f"G {generator.count_params():,} and D {discriminator.count_params():,} parameters, "
        f"batch {options.batch_size}, seed {seed}"
    )

    # Train.
    total_steps = budget_steps(options, len(folder.images))
    deadline = options.minutes * 60 if options.minutes is not None else math.inf
    order = BatchOrder(len(folder.images), options.batch_size, seed)
    step, images_seen, elapsed_before = 0, 0, 0.0
    started = time.monotonic()
    step_times: deque[float] = deque(maxlen=RATE_WINDOW_STEPS)

    def elapsed() -> float:
        return elapsed_before + time.monotonic() - started

    def write_sample() -> None:
        grid = make_grid(to_uint8(trainer.generate(fixed_noise)))
        text = {"kgan:step": str(step), "kgan:elapsed_seconds": f"{elapsed():.1f}"}
        save_png(run.samples_dir / sample_name(step), grid, text)

    def checkpoint() -> Path:
        state = {"images_seen": images_seen, "elapsed_seconds": elapsed(), "seed": seed}
        return save_checkpoint(run, step, generator, discriminator, state, options.keep_checkpoints)

    write_sample()
    stopped_early = False
    with open(run.losses_path, "a", encoding="utf-8") as losses_log:
        while (total_steps is None or step < total_steps) and elapsed() < deadline:
            if stop_requested():
                stopped_early = True
                break
            step_started = time.monotonic()
            real = folder.images[order.indices(images_seen)]
            discriminator_noise, generator_noise = step_noise(seed, step, options.batch_size, options.latent_dim)
            metrics = trainer.train_step(real, discriminator_noise, generator_noise)
            step += 1
            images_seen += options.batch_size
            step_times.append(time.monotonic() - step_started)

            status = TrainStatus(
                step=step,
                total_steps=total_steps,
                epoch=images_seen / len(folder.images),
                d_loss=metrics["d_loss"],
                g_loss=metrics["g_loss"],
                d_real=metrics["d_real"],
                d_fake=metrics["d_fake"],
                images_per_second=options.batch_size * len(step_times) / max(sum(step_times), 1e-9),
                elapsed_seconds=elapsed(),
            )
            losses_log.write(json.dumps(_log_record(status)) + "\n")
            if not all(math.isfinite(value) for value in metrics.values()):
                losses_log.flush()
                previous = run.latest_checkpoint()
                kept = f"the last good checkpoint is {previous}" if previous else "no checkpoint was written yet"
                raise TrainingDiverged(
                    f"a loss became NaN or infinite at step {step}; stopped, {kept}. Try lower learning rates."
                )
            reporter.status(status)
            if step % options.sample_every == 0:
                write_sample()
            if step % options.checkpoint_every == 0:
                losses_log.flush()
                checkpoint()
        losses_log.flush()

    # Save the end of the run.
    if step % options.sample_every:
        write_sample()
    final = checkpoint()
    return TrainResult(run=run, step=step, checkpoint=final, elapsed_seconds=elapsed(), stopped_early=stopped_early)


def _log_record(status: TrainStatus) -> dict[str, Any]:
    record = {key: value for key, value in vars(status).items() if key != "total_steps"}
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in record.items()}


def _name_hint(data_dir: Path) -> str:
    from kgan.paths import embedded_data_dir

    embedded = embedded_data_dir()
    if embedded is not None and Path(data_dir).resolve() == embedded.resolve():
        return "fashion-mnist"
    return Path(data_dir).resolve().stem or "run"


def _config(options: TrainOptions, folder: ImageFolder, seed: int) -> dict[str, Any]:
    from kgan import backend
    from kgan.models import DISCRIMINATOR_OUTPUT

    return {
        "kgan_version": __version__,
        **backend.versions(),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seed": seed,
        "options": options.to_json(),
        "model": {
            "arch": options.arch,
            "resolution": folder.resolution,
            "channels": folder.channels,
            "latent_dim": options.latent_dim,
            "width": options.width,
            "discriminator_output": DISCRIMINATOR_OUTPUT[options.arch],
        },
        "data": {
            "path": str(Path(options.data_dir).resolve()),
            "fingerprint": folder.fingerprint,
            "images": len(folder.files),
            "skipped": folder.skip_counts(),
        },
    }

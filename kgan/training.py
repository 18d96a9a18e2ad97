"""The training loop: data in, a run folder with checkpoints and samples out.

``train`` reads top to bottom: start a new run or pick up a saved one, then
alternate D and G updates until the budget (steps, epochs or minutes, counted
over the whole run) is spent or a stop is requested, then save. It never
prints; it reports through a ``Reporter``.

Everything random in a step is a function of the run's seed and the step (the
noise) or of the seed and the number of images seen (the data order), so a run
resumed from a checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kgan.batches import BatchPlan, Prefetcher
from kgan.errors import RunError, TrainingDiverged
from kgan.imaging import make_grid, save_png, to_uint8
from kgan.options import TrainOptions
from kgan.progress import Reporter, SilentReporter, TrainStatus
from kgan.runs import Run, sample_name
from kgan.session import Session, new_session, resume_session
from kgan.tensorboard import TensorBoardLog

RATE_WINDOW_STEPS = 20


@dataclass
class TrainResult:
    """What a finished (or stopped) training run left behind."""

    run: Run
    step: int
    checkpoint: Path
    elapsed_seconds: float
    stopped_early: bool


def budget_steps(options: TrainOptions, image_count: int) -> int | None:
    """The step the run ends at from --steps and --epochs (None: only --minutes limits it)."""
    limits = []
    if options.steps is not None:
        limits.append(options.steps)
    if options.epochs is not None:
        images_per_step = options.batch_size * (options.critic_steps or 1)
        limits.append(max(1, math.ceil(options.epochs * image_count / images_per_step)))
    return min(limits) if limits else None


def train(
    options: TrainOptions,
    reporter: Reporter | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> TrainResult:
    """Train a GAN as ``options`` says (a new run, or ``options.resume``) and return where its results are."""
    reporter = reporter or SilentReporter()
    options.validate()
    session = resume_session(options, reporter) if options.resume else new_session(options, reporter)
    try:
        return _train_loop(session, reporter, stop_requested)
    except OSError as error:  # a full disk or a vanished folder while writing logs
        raise RunError(f"cannot write to {session.run.path}: {error.strerror or error}") from None
    finally:
        if session.scratch is not None:
            shutil.rmtree(session.scratch, ignore_errors=True)


def _train_loop(session: Session, reporter: Reporter, stop_requested: Callable[[], bool]) -> TrainResult:
    from kgan.checkpoints import save_checkpoint

    options, run, trainer, folder = session.options, session.run, session.trainer, session.folder
    total_steps = budget_steps(options, len(folder.images))
    deadline = options.minutes * 60 if options.minutes is not None else math.inf
    started = time.monotonic()
    step_times: deque[float] = deque(maxlen=RATE_WINDOW_STEPS)

    def elapsed() -> float:
        return session.elapsed_before + time.monotonic() - started

    board = TensorBoardLog(run.logs_dir)

    def write_sample() -> None:
        # Only deterministic content goes into the file, so that the same seed
        # gives the same bytes; the time-lapse takes elapsed times from the log.
        grid = make_grid(to_uint8(trainer.generate(session.fixed_noise)))
        save_png(run.samples_dir / sample_name(session.step), grid, {"kgan:step": str(session.step)})
        board.image(session.step, "samples", grid)

    def evaluate_now() -> None:
        result = _evaluate(session)
        board.scalars(session.step, {"metrics/fid": result.fid, "metrics/kid": result.kid})
        reporter.message(result.summary())

    def checkpoint() -> Path:
        state = {"images_seen": session.images_seen, "elapsed_seconds": elapsed(), "seed": session.seed}
        generator, discriminator = trainer.generator, trainer.discriminator
        return save_checkpoint(
            run, session.step, generator, discriminator, state, options.keep_checkpoints, trainer.average
        )

    if session.step == 0:
        write_sample()
    stopped_early = False
    plan = BatchPlan(
        options.batch_size,
        options.latent_dim,
        session.seed,
        session.condition,
        options.critic_steps,
        augment=bool(options.augment),
    )
    prefetcher = Prefetcher(folder.images, session.labels, plan, session.step)
    with prefetcher, open(run.losses_path, "a", encoding="utf-8") as losses_log:
        while total_steps is None or session.step < total_steps:
            if elapsed() >= deadline and not session.multiworker:
                break
            step_started = time.monotonic()
            batch = prefetcher.get(session.step)
            # Every process votes; all stop after the step in which any voted to.
            wants_to_stop = stop_requested() or elapsed() >= deadline
            metrics = trainer.train_step(batch, stop_vote=wants_to_stop)
            session.step += 1
            session.images_seen += plan.images_per_step
            step_times.append(time.monotonic() - step_started)

            status = TrainStatus(
                step=session.step,
                total_steps=total_steps,
                epoch=session.images_seen / len(folder.images),
                d_loss=metrics["d_loss"],
                g_loss=metrics["g_loss"],
                d_real=metrics["d_real"],
                d_fake=metrics["d_fake"],
                images_per_second=plan.images_per_step * len(step_times) / max(sum(step_times), 1e-9),
                elapsed_seconds=elapsed(),
                extras={name: metrics[name] for name in ("w_distance", "info_loss") if name in metrics},
            )
            losses_log.write(json.dumps(_log_record(status)) + "\n")
            if not all(math.isfinite(value) for value in metrics.values()):
                losses_log.flush()
                previous = run.latest_checkpoint()
                kept = f"the last good checkpoint is {previous}" if previous else "no checkpoint was written yet"
                raise TrainingDiverged(
                    f"a loss became NaN or infinite at step {session.step}; stopped, {kept}. "
                    "Try lower learning rates (--g-lr, --d-lr)."
                )
            reporter.status(status)
            board.scalars(session.step, _board_scalars(status))
            if session.step % options.sample_every == 0:
                write_sample()
            if session.step % options.checkpoint_every == 0:
                losses_log.flush()
                board.flush()
                checkpoint()
            if session.evaluator is not None and session.step % options.eval_every == 0:
                evaluate_now()
            if metrics["stop"] > 0:
                stopped_early = elapsed() < deadline
                break
        losses_log.flush()

    # Save the end of the run.
    if session.step % options.sample_every and not (run.samples_dir / sample_name(session.step)).exists():
        write_sample()
    final = checkpoint()
    board.close()
    return TrainResult(run, session.step, final, elapsed(), stopped_early)


def _board_scalars(status: TrainStatus) -> dict[str, float]:
    values = {
        "loss/discriminator": status.d_loss,
        "loss/generator": status.g_loss,
        "discriminator/real": status.d_real,
        "discriminator/fake": status.d_fake,
        "speed/images_per_second": status.images_per_second,
    }
    values.update({f"loss/{name}": value for name, value in status.extras.items()})
    return values


def _evaluate(session: Session) -> Any:
    """FID and KID of the current generator (its average, if kept), added to metrics.jsonl."""
    from kgan.evaluation import append_metrics, evaluate, real_features, real_images_for
    from kgan.runs import checkpoint_name
    from kgan.sampling import GeneratorSource

    trainer, run = session.trainer, session.run
    source = GeneratorSource(
        run,
        run.checkpoints_dir / checkpoint_name(session.step),
        trainer.average if trainer.average is not None else trainer.generator,
        session.condition,
        averaged=trainer.average is not None,
    )
    options = session.options
    real = real_images_for(run, options.eval_data or options.data_dir)
    if session.real_features is None:
        # The real side never changes during a run: compute (or read) its features once.
        session.real_features = real_features(real, session.evaluator, options.cache_dir)
    result = evaluate(source, real, session.evaluator, options.eval_n, reference=session.real_features)
    append_metrics(run, result)
    return result


def _log_record(status: TrainStatus) -> dict[str, Any]:
    record = {key: value for key, value in vars(status).items() if key != "total_steps"}
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in record.items()}

"""The training loop: data in, a run folder with checkpoints and samples out.

``train`` reads top to bottom: start a new run or pick up a saved one, then
alternate D and G updates until the budget (steps, epochs or minutes, counted
over the whole run) is spent or a stop is requested, then save. It never
prints (it reports through a ``Reporter``) and never writes a file itself (the
``RunRecorder`` beside it does).

Everything random in a step is a function of the run's seed and the step (the
noise) or of the seed and the number of images seen (the data order), so a run
resumed from a checkpoint continues exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import shutil
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kgan.errors import RunError, TrainingDiverged
from kgan.gan.batches import BatchPlan, Prefetcher
from kgan.options import TrainOptions
from kgan.recorder import RunRecorder, all_finite
from kgan.reporting import Reporter, SilentReporter, TrainStatus
from kgan.runs import Run, RunConfig
from kgan.session import Session, new_session, resume_session

RATE_WINDOW_STEPS = 20
# The variants' extra figures that the status line and the logs show.
EXTRA_METRICS = ("w_distance", "info_loss", "r1")


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


def cooldown_factor(cooldown: float, step: int, total_steps: int | None, seconds: float, deadline: float) -> float:
    """The learning rates' multiplier: 1 until the last ``cooldown`` of the budget, then falling linearly to 0."""
    progress = max(step / total_steps if total_steps else 0.0, seconds / deadline if math.isfinite(deadline) else 0.0)
    return min(1.0, max(0.0, (1.0 - progress) / cooldown))


def train(
    options: TrainOptions,
    reporter: Reporter | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
    saved_config: RunConfig | None = None,
) -> TrainResult:
    """Train a GAN as ``options`` says (a new run, or ``options.resume``) and return where its results are.

    ``saved_config`` is the resumed run's config when the caller has read it already.
    """
    reporter = reporter or SilentReporter()
    options.validate()
    if options.resume:
        session = resume_session(options, reporter, saved_config)
    else:
        session = new_session(options, reporter)
    try:
        return _train_loop(session, reporter, stop_requested)
    except OSError as error:  # a full disk or a vanished folder while writing logs
        raise RunError(f"cannot write to {session.run.path}: {error.strerror or error}") from None
    finally:
        if session.scratch is not None:
            shutil.rmtree(session.scratch, ignore_errors=True)


def _train_loop(session: Session, reporter: Reporter, stop_requested: Callable[[], bool]) -> TrainResult:
    options, trainer, image_count = session.options, session.trainer, len(session.folder.images)

    # Budget and clock: the budget counts the whole run, the clock goes on from the checkpoint.
    total_steps = budget_steps(options, image_count)
    deadline = options.minutes * 60 if options.minutes is not None else math.inf
    started = time.monotonic()
    step_times: deque[float] = deque(maxlen=RATE_WINDOW_STEPS)

    def elapsed() -> float:
        return session.elapsed_before + time.monotonic() - started

    # Checkpoints every so many steps or so much training time, whichever comes first.
    every_steps, every_seconds = options.checkpoint_every_steps, options.checkpoint_every_seconds
    last_checkpoint_at = session.elapsed_before

    def checkpoint_due(step: int, seconds_since: float) -> bool:
        return bool(every_steps and step % every_steps == 0) or bool(every_seconds and seconds_since >= every_seconds)

    # Batches: prepared a few steps ahead on a thread, each a function of the seed and the step.
    plan = BatchPlan(
        options.batch_size, options.latent_dim, session.seed, session.condition, options.critic_steps,
        augment=bool(options.augment),
    )  # fmt: skip
    prefetcher = Prefetcher(session.folder.images, session.labels, plan, session.step)

    with prefetcher, RunRecorder(session) as recorder:
        # A new run shows where it starts from.
        if session.step == 0:
            recorder.sample_grid()

        # Train.
        stopped_early = False
        while total_steps is None or session.step < total_steps:
            if elapsed() >= deadline and not session.multiworker:
                break
            step_started = time.monotonic()
            if options.lr_cooldown:
                # Workers' clocks differ, so a multi-worker run cools down by its step budget alone.
                clock = (0.0, math.inf) if session.multiworker else (elapsed(), deadline)
                factor = cooldown_factor(options.lr_cooldown, session.step, total_steps, *clock)
                trainer.set_learning_rates(options.generator_lr * factor, options.discriminator_lr * factor)
            batch = prefetcher.get(session.step)
            # Every process votes; all stop after the step in which any voted to.
            wants_to_stop = stop_requested() or elapsed() >= deadline
            metrics = trainer.train_step(batch, stop_vote=wants_to_stop)
            session.step += 1
            session.images_seen += plan.images_per_step
            step_times.append(time.monotonic() - step_started)

            # Report and log the step; a NaN stops here, before anything is saved from it.
            status = TrainStatus(
                step=session.step,
                total_steps=total_steps,
                epoch=session.images_seen / image_count,
                d_loss=metrics["d_loss"],
                g_loss=metrics["g_loss"],
                d_real=metrics["d_real"],
                d_fake=metrics["d_fake"],
                images_per_second=plan.images_per_step * len(step_times) / max(sum(step_times), 1e-9),
                elapsed_seconds=elapsed(),
                extras={name: metrics[name] for name in EXTRA_METRICS if name in metrics},
                augment=options.augment or "",
            )
            recorder.step_done(status)
            if not all_finite(metrics):
                recorder.flush()
                _raise_diverged(session)
            reporter.status(status)

            # Samples, checkpoints and evaluations at their cadence.
            if session.step % options.sample_every == 0:
                recorder.sample_grid()
            if checkpoint_due(session.step, elapsed() - last_checkpoint_at):
                recorder.checkpoint(elapsed())
                last_checkpoint_at = elapsed()
            if session.evaluator is not None and session.step % options.eval_every == 0:
                reporter.message(recorder.evaluate().summary())

            if metrics["stop"] > 0:
                stopped_early = elapsed() < deadline
                break

        # Save the end of the run.
        if not recorder.has_sample_grid():
            recorder.sample_grid()
        final = recorder.checkpoint(elapsed())
    return TrainResult(session.run, session.step, final, elapsed(), stopped_early)


def _raise_diverged(session: Session) -> None:
    previous = session.run.latest_checkpoint()
    kept = f"the last good checkpoint is {previous.path}" if previous else "no checkpoint was written yet"
    raise TrainingDiverged(
        f"a loss became NaN or infinite at step {session.step}; stopped, {kept}. "
        "Try lower learning rates (--g-lr, --d-lr)."
    )

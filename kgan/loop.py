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

import numpy as np

from kgan.errors import RunError, TrainingDiverged
from kgan.gan.batches import BatchPlan, Prefetcher
from kgan.options import TrainOptions
from kgan.recorder import RunRecorder, all_finite
from kgan.reporting import Reporter, SilentReporter, TrainStatus
from kgan.runs import Run, RunConfig
from kgan.session import Session, grow_to_full_size, new_session, resume_session

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


def budget_spent(step: int, total_steps: int | None, seconds: float, deadline: float) -> float:
    """How much of the budget is spent, from 0 to 1: of the steps or of the minutes, whichever ends first."""
    return max(step / total_steps if total_steps else 0.0, seconds / deadline if math.isfinite(deadline) else 0.0)


def cooldown_factor(cooldown: float, step: int, total_steps: int | None, seconds: float, deadline: float) -> float:
    """The learning rates' multiplier: 1 until the last ``cooldown`` of the budget, then falling linearly to 0."""
    return min(1.0, max(0.0, (1.0 - budget_spent(step, total_steps, seconds, deadline)) / cooldown))


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
    options, image_count = session.options, len(session.folder.images)

    # Budget and clock: the budget counts the whole run, the clock goes on from the checkpoint.
    total_steps = options.budget_steps(image_count)
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

    def learning_rates(step: int) -> tuple[float, float]:
        factor = 1.0
        if options.lr_cooldown:
            # Workers' clocks differ, so a multi-worker run cools down by its step budget alone.
            clock = (0.0, math.inf) if session.multiworker else (elapsed(), deadline)
            factor = cooldown_factor(options.lr_cooldown, step, total_steps, *clock)
        return options.generator_lr * factor, options.discriminator_lr * factor

    # A grown run (kgan.gan.growing) hands over to full size once --grow of the budget is spent.
    growing = bool(options.grow) and session.draws_half_size
    grow_at_step = math.ceil(options.grow * total_steps) if growing and total_steps is not None else None

    def time_to_grow(step: int) -> bool:
        return growing and budget_spent(step, total_steps, elapsed(), deadline) >= options.grow

    # Several steps per compiled call where they fit between the step cadences and the budget, so that
    # samples, checkpoints and evaluations fall on the same steps, and a run makes the same calls
    # whether or not it was resumed.
    per_call = session.steps_per_execution
    cadences = [options.sample_every, every_steps, options.eval_every if session.evaluator is not None else None]
    cadences = [every for every in cadences if every]

    def steps_in_next_call() -> int:
        step = session.step
        if per_call == 1 or step % per_call:
            return 1
        room = min(every - step % every for every in cadences)
        if growing and grow_at_step is not None and step < grow_at_step:
            room = min(room, grow_at_step - step)
        if total_steps is not None:
            room = min(room, total_steps - step)
        return per_call if room >= per_call else 1

    # Batches: prepared a few steps ahead on a thread, each a function of the seed and the step.
    plan = BatchPlan(
        options.batch_size, options.latent_dim, session.seed, session.condition, options.critic_steps,
        augment=bool(options.augment), mirror=bool(options.mirror),
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
            if time_to_grow(session.step):
                grow_to_full_size(session, reporter)
                growing = False
            trainer = session.trainer
            call_started = time.monotonic()
            steps = range(session.step, session.step + steps_in_next_call())
            if len(steps) == 1:
                if options.lr_cooldown:
                    trainer.set_learning_rates(*learning_rates(session.step))
                batch = prefetcher.get(session.step)
                # Every process votes; all stop after the step in which any voted to.
                wants_to_stop = stop_requested() or elapsed() >= deadline
                results = [trainer.train_step(batch, stop_vote=wants_to_stop)]
            else:
                rates = np.array([learning_rates(step) for step in steps], dtype=np.float32)
                results = trainer.train_steps([prefetcher.get(step) for step in steps], rates)
                # One device: a stop asked for during the call stops after it.
                results[-1]["stop"] = float(stop_requested() or elapsed() >= deadline)
            seconds_per_step = (time.monotonic() - call_started) / len(steps)

            # Report and log each step; a NaN stops there, before anything is saved from it.
            for metrics in results:
                session.step += 1
                session.images_seen += plan.images_per_step
                step_times.append(seconds_per_step)
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

            # Samples, checkpoints and evaluations at their cadence (a call never runs past one).
            if session.step % options.sample_every == 0:
                recorder.sample_grid()
            if checkpoint_due(session.step, elapsed() - last_checkpoint_at):
                recorder.checkpoint(elapsed())
                last_checkpoint_at = elapsed()
            if session.evaluator is not None and session.step % options.eval_every == 0:
                reporter.message(recorder.evaluate().summary())

            if results[-1]["stop"] > 0:
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

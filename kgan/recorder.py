"""Everything the training loop writes, in one small object beside it.

``RunRecorder`` owns the run folder's outputs during training: the per-step
line in logs/losses.jsonl, the TensorBoard scalars and images, the sample
grids, the checkpoints and the FID/KID evaluations. The loop says what
happened ("step done", "time for a sample"); the recorder decides how it is
written. Only deterministic content goes into the sample PNGs, so the same
seed gives the same bytes; the time-lapse takes elapsed times from the log.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from kgan.backend import tensorflow_module
from kgan.images.pictures import make_grid, save_png, to_uint8
from kgan.reporting import TrainStatus
from kgan.runs import sample_name
from kgan.session import Session

# Scalars are kept for up to this many steps or seconds, then written to TensorBoard together
# (flush and close write the rest), so a slow run's curves still move every half minute.
SCALAR_BATCH = 200
SCALAR_SECONDS = 30.0


class TensorBoardLog:
    """Writes TensorBoard summaries for one run into its logs/ folder.

    Scalars are kept and written a batch at a time by one compiled function: written
    one by one, a training step's half-dozen scalars cost about 4.5 ms of eager
    TensorFlow on a 2-core CPU, a tenth of a 28 px step; in batches, about 0.1 ms.
    A batch is written after SCALAR_BATCH steps or SCALAR_SECONDS, whichever comes
    first; ``flush`` and ``close`` write what is kept.
    """

    def __init__(self, logs_dir: Path, scalar_batch: int = SCALAR_BATCH, scalar_seconds: float = SCALAR_SECONDS):
        self._tf = tensorflow_module()
        self._writer = self._tf.summary.create_file_writer(str(logs_dir))
        self._scalar_batch, self._scalar_seconds = scalar_batch, scalar_seconds
        self._pending: dict[tuple[str, ...], list[tuple[int, list[float]]]] = {}
        self._last_written = time.monotonic()
        self._batch_writers: dict[tuple[str, ...], Any] = {}

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Keep one step's scalars (names are "section/name"); written with the next batch."""
        names = tuple(values)
        self._pending.setdefault(names, []).append((step, [float(values[name]) for name in names]))
        pending_steps = sum(len(rows) for rows in self._pending.values())
        if pending_steps >= self._scalar_batch or time.monotonic() - self._last_written >= self._scalar_seconds:
            self._write_pending()

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        """A uint8 image (H, W, 1 or 3)."""
        with self._writer.as_default(step=step):
            self._tf.summary.image(name, image[None], max_outputs=1)

    def flush(self) -> None:
        self._write_pending()
        self._writer.flush()

    def close(self) -> None:
        self._write_pending()
        self._writer.close()

    def _write_pending(self) -> None:
        for names, rows in self._pending.items():
            steps = np.array([step for step, _ in rows], dtype=np.int64)
            values = np.array([row for _, row in rows], dtype=np.float32)
            self._batch_writer(names)(steps, values)
        self._pending.clear()
        self._last_written = time.monotonic()

    def _batch_writer(self, names: tuple[str, ...]) -> Any:
        """A compiled function writing rows of these scalars, one row per step, under their exact names."""
        if names not in self._batch_writers:
            tf, writer = self._tf, self._writer
            signature = [tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, len(names)], tf.float32)]

            @tf.function(input_signature=signature)
            def write_rows(steps: Any, values: Any) -> Any:
                with writer.as_default():
                    for row in tf.range(tf.shape(steps)[0]):
                        for column, name in enumerate(names):
                            section, _, leaf = name.rpartition("/")
                            # A scope ending in "/" is absolute: the tag stays "section/leaf", not "while/...".
                            with tf.name_scope(f"{section}/" if section else ""):
                                tf.summary.scalar(leaf, values[row, column], step=steps[row])
                return tf.constant(True)

            self._batch_writers[names] = write_rows
        return self._batch_writers[names]


class RunRecorder:
    """Writes the losses log, TensorBoard, sample grids, checkpoints and evaluations of a session.

    Use it as a context manager: the losses log is open while training runs.
    """

    def __init__(self, session: Session):
        self.session = session
        self.run = session.run
        self.board = TensorBoardLog(self.run.logs_dir)
        self._losses_log: Any = None
        # The real images to evaluate against and their features: found at the first evaluation, then kept.
        self._real_images: Any = None
        self._real_features: np.ndarray | None = None

    def __enter__(self) -> RunRecorder:
        self._losses_log = open(self.run.losses_path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._losses_log is not None:
            self._losses_log.close()
            self._losses_log = None
        self.board.close()

    def step_done(self, status: TrainStatus) -> None:
        """One line in logs/losses.jsonl and the scalars in TensorBoard."""
        self._losses_log.write(json.dumps(_log_record(status)) + "\n")
        self.board.scalars(status.step, _board_scalars(status))

    def flush(self) -> None:
        """Make the losses log and TensorBoard durable up to now (before a checkpoint or a stop)."""
        if self._losses_log is not None:
            self._losses_log.flush()
        self.board.flush()

    def sample_grid(self) -> None:
        """The grid of the fixed sample noise at the current step, as a PNG and in TensorBoard."""
        session = self.session
        grid = make_grid(to_uint8(session.trainer.generate(session.fixed_noise)))
        save_png(self.run.samples_dir / sample_name(session.step), grid, {"kgan:step": str(session.step)})
        self.board.image(session.step, "samples", grid)

    def has_sample_grid(self) -> bool:
        return (self.run.samples_dir / sample_name(self.session.step)).exists()

    def checkpoint(self, elapsed_seconds: float) -> Path:
        """Save G, D (with their optimizers), G's EMA, the lookahead's copies and the counters; keep the newest few."""
        from kgan.checkpoints import save_checkpoint

        self.flush()
        session, trainer = self.session, self.session.trainer
        state = {"images_seen": session.images_seen, "elapsed_seconds": elapsed_seconds, "seed": session.seed}
        return save_checkpoint(
            self.run, session.step, trainer.generator, trainer.discriminator, state,
            session.options.keep_checkpoints, trainer.ema,
            trainer.lookahead.arrays() if trainer.lookahead is not None else None,
        )  # fmt: skip

    def evaluate(self) -> Any:
        """FID and KID of the current generator (its EMA, if kept), added to metrics.jsonl and TensorBoard."""
        from kgan.tools.evaluation import append_metrics, evaluate, real_features, real_images_for
        from kgan.tools.generator import GeneratorSource

        session, trainer, options = self.session, self.session.trainer, self.session.options
        source = GeneratorSource(
            self.run, trainer.inference_generator, session.condition, trainer.ema is not None, session.step
        )
        if self._real_features is None:
            # The real side never changes during a run: compute (or read) its features once.
            self._real_images = real_images_for(self.run, options.eval_data or options.data_dir)
            self._real_features = real_features(self._real_images, session.evaluator, options.cache_dir)
        result = evaluate(source, self._real_images, session.evaluator, options.eval_n, reference=self._real_features)
        append_metrics(self.run, result)
        self.board.scalars(session.step, {"metrics/fid": result.fid, "metrics/kid": result.kid})
        return result


def all_finite(metrics: dict[str, float]) -> bool:
    return all(math.isfinite(value) for value in metrics.values())


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


def _log_record(status: TrainStatus) -> dict[str, Any]:
    record = {key: value for key, value in vars(status).items() if key not in ("total_steps", "augment")}
    return {key: round(value, 6) if isinstance(value, float) else value for key, value in record.items()}

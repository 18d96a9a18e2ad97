"""Starting a training session: a new run, or a saved one picked up where it stopped.

Either way the loop gets the same things: the run folder, the images, the
networks with their optimizers, the fixed sample noise and the counters (step,
images seen, elapsed seconds). The run folder is read through ``kgan.runs``,
which checks every file and names a damaged or tampered one in one line.

The images are decoded before TensorFlow is imported, always: decoding a large
folder forks worker processes, which is only safe while TensorFlow's threads
do not exist yet (see ``kgan.images.folders``). So this module imports nothing
heavy at the top, and ``_load_folder`` runs before ``_set_up_runtime``;
tests/test_house.py checks both.
"""

from __future__ import annotations

import math
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kgan import __version__
from kgan.distribute import check_batch_split
from kgan.errors import RunError
from kgan.files import write_array_atomic, write_json_atomic
from kgan.gan.augment import parse_policies
from kgan.gan.catalog import DISCRIMINATOR_OUTPUT, score_columns
from kgan.gan.conditions import Condition, condition_for
from kgan.images.clips import ClipPolicy
from kgan.images.folders import ImageFolder, load_image_folder
from kgan.options import TrainOptions
from kgan.random_streams import Stream, stream
from kgan.reporting import Reporter, format_elapsed
from kgan.runs import Run, RunConfig, create_run

SAMPLE_GRID_SIZE = 64


def sample_noise(seed: int, count: int, latent_dim: int, condition: Condition) -> np.ndarray:
    """The fixed generator inputs (noise and codes) behind a run's sample grids.

    For a conditional run each row of the grid is one class; for InfoGAN each
    row one value of the categorical code.
    """
    rng = stream(seed, Stream.SAMPLE_GRID)
    noise = rng.standard_normal((count, latent_dim), dtype=np.float32)
    return np.concatenate([noise, condition.grid_codes(rng, count)], axis=1)


@dataclass
class Session:
    """Everything the loop needs, whether the run is new or resumed."""

    run: Run
    options: TrainOptions
    folder: ImageFolder
    trainer: Any  # kgan.gan.step.GanTrainer, imported lazily
    seed: int
    fixed_noise: np.ndarray
    distribution: Any  # kgan.distribute.Distribution
    labels: np.ndarray  # one class index per image (zeros unless the run is conditional)
    condition: Condition
    step: int = 0
    images_seen: int = 0
    elapsed_before: float = 0.0
    # A worker's scratch folder (multi-worker runs): removed when training ends.
    scratch: Path | None = None
    # The feature model for FID and KID every --eval-every steps (on the chief only).
    evaluator: Any = None
    # Training steps per compiled call (see kgan.backend.choose_steps_per_execution).
    steps_per_execution: int = 1

    @property
    def multiworker(self) -> bool:
        return self.distribution.name == "multiworker"

    @property
    def draws_half_size(self) -> bool:
        """Whether G was built to grow (``kgan.gan.growing``) and has not grown yet."""
        from kgan.gan.growing import draws_half_size

        return draws_half_size(self.trainer.generator)


def new_session(options: TrainOptions, reporter: Reporter) -> Session:
    """Start a new run: load the images, set up the devices, create the run folder and the networks."""
    from kgan.distribute import multiworker_seed

    seed = options.seed
    if seed is None:
        seed = multiworker_seed() if options.strategy == "multiworker" else secrets.randbelow(2**31)

    # Load training set (before TensorFlow is imported: decoding may fork).
    folder = _load_folder(options, options.resolution, options.channels, reporter)
    condition = condition_for(
        options.conditional, options.info_codes, options.info_categories, options.info_continuous, folder.files
    )
    labels = condition.image_labels(folder.files)

    # Set up devices, choose what "auto" left open, then create the run folder (the chief's, on a multi-worker run).
    distribution, precision, evaluator = _set_up_runtime(options, seed)
    choices = options.settle(len(folder.files), folder.resolution, folder.channels, on_gpu=distribution.on_gpu)
    compiler = _choose_compiler(options, precision, distribution, reporter)
    if options.compiler == "auto":
        replicas, device = distribution.replicas, "a GPU" if distribution.on_gpu else "a CPU"
        place = f"{replicas} replicas" if replicas > 1 else device
        projected = ", a projected D" if options.d_features == "lite1" else ""
        choices["compiler"] = f"auto -> {compiler} ({precision} on {place}{projected})"
    steps_per_execution, why = _steps_per_execution(options, compiler, distribution.replicas, folder)
    if options.steps_per_execution is None:
        choices["steps_per_execution"] = f"auto -> {steps_per_execution} ({why})"
    for option, reason in choices.items():
        reporter.message(f"{option}: {reason}")
    check_batch_split(options.batch_size, distribution.replicas)
    scratch = None
    if distribution.is_chief:
        run = create_run(options.runs_dir, options.name, name_hint=_name_hint(options.data_dir))
    else:
        run, scratch = _scratch_run()
    runtime = _runtime(distribution, compiler, steps_per_execution)
    config = _config(options, folder, seed, precision, runtime, condition, labels)
    write_json_atomic(run.config_path, {**config, "choices": choices})
    write_json_atomic(run.skipped_path, [vars(item) for item in folder.skipped])
    fixed_noise = sample_noise(seed, SAMPLE_GRID_SIZE, options.latent_dim, condition)
    write_array_atomic(run.sample_noise_path, fixed_noise)
    reporter.message(f"run folder: {run.path}")

    # Construct networks.
    trainer = _build_trainer(options, folder, condition, distribution, compiler)
    reporter.message(
        f"{options.arch} at {folder.resolution}x{folder.resolution}x{folder.channels}: "
        f"G {trainer.generator.count_params():,} and D {trainer.discriminator.count_params():,} parameters, "
        f"batch {options.batch_size}, seed {seed}"
    )
    return Session(
        run, options, folder, trainer, seed, fixed_noise, distribution, labels, condition,
        scratch=scratch, evaluator=evaluator, steps_per_execution=steps_per_execution,
    )  # fmt: skip


def resume_session(options: TrainOptions, reporter: Reporter, config: RunConfig | None = None) -> Session:
    """Pick a run up at its newest checkpoint, with every counter where it was.

    ``config`` is the run's config.json when the caller has read it already (to merge the options).
    """
    run = Run(Path(options.resume))
    config = config or run.config()
    model, condition = config.model, config.model.condition

    # Load training set, as the run first saw it (before TensorFlow is imported: decoding may fork).
    folder = _load_folder(options, model.resolution, model.channels, reporter)
    if folder.fingerprint != config.data_fingerprint:
        reporter.message("note: the images changed since the run started, so the batches will differ from before")
    labels = condition.image_labels(folder.files)
    fixed_noise = run.sample_noise(options.latent_dim + condition.code_size)

    # Set up devices; a worker of a multi-worker run reads the run but writes elsewhere.
    distribution, precision, evaluator = _set_up_runtime(options, config.seed)
    compiler = _choose_compiler(options, precision, distribution, reporter)
    writes_to, scratch = (run, None) if distribution.is_chief else _scratch_run()

    # Load networks, optimizers and counters from the newest checkpoint.
    from kgan.checkpoints import load_for_training, remove_unfinished
    from kgan.gan.growing import draws_half_size, growing_output
    from kgan.gan.step import GanTrainer

    if distribution.is_chief:
        remove_unfinished(run)
    checkpoint = run.latest_checkpoint()
    state = None
    if checkpoint is None:
        # Killed before its first checkpoint: start again, inside the same folder.
        reporter.message(f"run {run.path} has no checkpoint yet; starting it again from step 0")
        trainer = _build_trainer(options, folder, condition, distribution, compiler)
    else:
        with distribution.strategy.scope():
            generator, discriminator, ema, state = load_for_training(checkpoint)
            lookahead = _make_lookahead(options, generator, discriminator)
        if (ema is None) != (options.ema is None):
            raise RunError(f"{checkpoint.path} does not match config.json: the moving average of G is missing or extra")
        _check_shapes(generator, discriminator, config, checkpoint.path)
        _load_lookahead(lookahead, checkpoint)
        grown = growing_output(generator) is not None and not draws_half_size(generator)
        trainer = GanTrainer(
            generator, discriminator, generator.optimizer, discriminator.optimizer,
            gan_setup(options, condition, grown), distribution.strategy, ema, compiler, lookahead,
        )  # fmt: skip
    steps_per_execution, why = _steps_per_execution(options, compiler, distribution.replicas, folder)
    if options.steps_per_execution is None:
        reporter.message(f"steps_per_execution: auto -> {steps_per_execution} ({why})")
    session = Session(
        writes_to, options, folder, trainer, config.seed, fixed_noise, distribution, labels, condition,
        scratch=scratch, evaluator=evaluator, steps_per_execution=steps_per_execution,
    )  # fmt: skip
    if state is not None:
        session.step, session.images_seen, session.elapsed_before = state.step, state.images_seen, state.elapsed_seconds
        reporter.message(f"resuming {run.path} at step {session.step:,} ({format_elapsed(session.elapsed_before)})")
    if distribution.is_chief:
        run.truncate_losses(session.step)
        document = config.document
        document.setdefault("resumed", []).append(
            {"at_step": session.step, "at": _now(), "options": options.to_json(), "kgan_version": __version__}
        )
        document["options"] = options.to_json()
        # How this stretch runs: --compile, --steps-per-execution and --strategy may change on resume.
        document["runtime"] = _runtime(distribution, compiler, steps_per_execution)
        write_json_atomic(run.config_path, document)
    return session


def gan_setup(options: TrainOptions, condition: Condition, grown: bool = False) -> Any:
    """The trainer's variant pieces, from the options; a ``grown`` run's D gives two Ds' scores."""
    from kgan.gan.losses import AdversarialLoss
    from kgan.gan.step import GanSetup

    return GanSetup(
        loss=AdversarialLoss(options.loss, from_logits=DISCRIMINATOR_OUTPUT[options.arch] == "logits"),
        condition=condition,
        augment=parse_policies(options.augment),
        critic_steps=options.critic_steps,
        gradient_penalty_weight=options.gp_weight,
        ema_decay=options.ema,
        r1_weight=options.r1,
        score_columns=score_columns(options.d_features) * (2 if grown else 1),
    )


def _load_folder(
    options: TrainOptions, resolution: int | None, channels: int | None, reporter: Reporter
) -> ImageFolder:
    clips = ClipPolicy(options.video_stride, options.max_frames_per_video)
    folder = load_image_folder(
        options.data_dir, resolution, channels, options.fit, options.background, options.cache_dir, clips=clips
    )
    cached = {"read": ", read from the data cache", "written": ", now cached"}.get(folder.cache, "")
    if folder.cache.startswith(("unavailable", "rebuilt")):
        cached = f", data cache {folder.cache}"
    reporter.message(f"{folder.summary()} from {options.data_dir}{cached}")
    return folder


def _set_up_runtime(options: TrainOptions, seed: int) -> Any:
    """Seed, determinism, strategy and precision, in the order TensorFlow needs them."""
    from kgan import backend
    from kgan.distribute import make_distribution

    if options.seed is not None:
        backend.make_deterministic()
    distribution = make_distribution(options.strategy)
    evaluator = _make_evaluator(options, distribution) if options.eval_every else None
    precision = backend.choose_precision(options.precision)
    backend.use_precision(precision)
    backend.keras_module().utils.set_random_seed(seed)
    return distribution, precision, evaluator


def _choose_compiler(options: TrainOptions, precision: str, distribution: Any, reporter: Reporter) -> str:
    """How each step is compiled, once the options are settled (a projected D changes it); says where it runs."""
    from kgan import backend

    # Determinism, once on, stays on for the process (as for in-process callers after a seeded run).
    compiler = backend.choose_compiler(
        options.compiler, precision, distribution.replicas, distribution.on_gpu, options.arch,
        backend.op_determinism_enabled(), options.d_features,
    )  # fmt: skip
    steps = "XLA" if compiler == "xla" else "graph"
    reporter.message(f"running on {backend.describe_devices()}, {precision}, {steps} steps, {distribution.describe()}")
    return compiler


def _runtime(distribution: Any, compiler: str, steps_per_execution: int) -> dict[str, Any]:
    """config.json's "runtime": how the latest stretch of the run trains (may change on resume)."""
    return {
        "strategy": distribution.name, "replicas": distribution.replicas,
        "compiler": compiler, "steps_per_execution": steps_per_execution,
    }  # fmt: skip


def _steps_per_execution(options: TrainOptions, compiler: str, replicas: int, folder: ImageFolder) -> tuple[int, str]:
    """Training steps per compiled call, and why (for --steps-per-execution auto)."""
    from kgan import backend

    budget = options.budget_steps(len(folder.files))
    run_steps = math.inf if budget is None else budget
    chosen = backend.choose_steps_per_execution(
        options.steps_per_execution, compiler, replicas, folder.resolution, run_steps
    )
    if compiler != "xla" or replicas > 1:
        why = "XLA steps on one device only"
    elif folder.resolution > backend.FUSED_STEPS_UP_TO_PIXELS:
        why = f"{folder.resolution} px: the step's arithmetic outweighs the call's own cost"
    elif run_steps < backend.FUSED_STEPS_FROM_RUN_STEPS:
        why = f"{budget:,} steps: too few to repay compiling several steps"
    else:
        why = f"XLA steps of {folder.resolution} px images: the call's own cost weighs"
    return chosen, why


def _make_evaluator(options: TrainOptions, distribution: Any) -> Any:
    """Load the feature model now, so that missing weights stop the run before it trains."""
    if not distribution.is_chief:
        return None
    from kgan import backend
    from kgan.tools.evaluation import load_feature_model

    # Features are computed in float32 whatever the training precision.
    with backend.precision_scope("float32"):
        return load_feature_model(options.eval_features, options.eval_weights)


def _scratch_run() -> tuple[Run, Path]:
    """Somewhere for a non-chief worker to write, so that only the chief writes the run."""
    scratch = Path(tempfile.mkdtemp(prefix="kgan-worker-"))
    return create_run(scratch, "run", name_hint="run"), scratch


def _build_trainer(
    options: TrainOptions, folder: ImageFolder, condition: Condition, distribution: Any, compiler: str
) -> Any:
    """New networks and optimizers, as the options say, for the folder's image size (half of it for D when
    the run grows)."""
    from kgan.gan.ema import make_ema
    from kgan.gan.growing import half_size_discriminator
    from kgan.gan.models import build_generator
    from kgan.gan.step import GanTrainer

    with distribution.strategy.scope():
        generator = build_generator(
            folder.resolution,
            folder.channels,
            options.latent_dim + condition.code_size,
            options.g_width,
            options.arch,
            synchronized_batch_norm=distribution.replicas > 1,
            init=options.init,
            grow=bool(options.grow),
        )
        if options.grow:
            half = _build_discriminator(options, folder.resolution // 2, folder.channels, condition, distribution)
            discriminator = half_size_discriminator(half, folder.resolution, folder.channels)
        else:
            discriminator = _build_discriminator(options, folder.resolution, folder.channels, condition, distribution)
        optimizers = _make_optimizers(options)
        ema = make_ema(generator) if options.ema is not None else None
        lookahead = _make_lookahead(options, generator, discriminator)
    setup = gan_setup(options, condition)
    return GanTrainer(generator, discriminator, *optimizers, setup, distribution.strategy, ema, compiler, lookahead)


def grow_to_full_size(session: Session, reporter: Reporter) -> None:
    """The hand-over of a grown run (``kgan.gan.growing``): G and its average draw at full size from now on,
    a new full-size D judges beside the half-size one, and both get new optimizers and lookahead copies."""
    from kgan.backend import keras_module
    from kgan.gan.growing import growing_output, grown_discriminator
    from kgan.gan.step import GanTrainer

    options, old, distribution = session.options, session.trainer, session.distribution
    resolution, channels = session.folder.resolution, session.folder.channels
    # The new D's weights are a function of the run's seed, whether or not the run was resumed before.
    keras_module().utils.set_random_seed(int(stream(session.seed, Stream.GROWN_DISCRIMINATOR).integers(2**31)))
    with distribution.strategy.scope():
        for model in (old.generator, old.ema):
            if model is not None:
                growing_output(model).grow()
        full = _build_discriminator(options, resolution, channels, session.condition, distribution)
        discriminator = grown_discriminator(full, old.discriminator)
        optimizers = _make_optimizers(options)
        lookahead = _make_lookahead(options, old.generator, discriminator)
    setup = gan_setup(options, session.condition, grown=True)
    session.trainer = GanTrainer(
        old.generator, discriminator, *optimizers, setup, distribution.strategy, old.ema, old.compiler, lookahead
    )
    if distribution.is_chief:
        document = session.run.config().document
        document["grown"] = {"at_step": session.step, "at": _now()}
        write_json_atomic(session.run.config_path, document)
    reporter.message(
        f"grown at step {session.step:,}: G now draws at {resolution} px, and a new {resolution} px D "
        f"({discriminator.count_params() - old.discriminator.count_params():,} parameters) judges beside "
        f"the {resolution // 2} px one"
    )


def _build_discriminator(
    options: TrainOptions, resolution: int, channels: int, condition: Condition, distribution: Any
) -> Any:
    """A new D as the options say, for images of this size and channels (inside the strategy's scope)."""
    from kgan.gan.models import build_discriminator

    return build_discriminator(
        resolution,
        channels + condition.discriminator_channels,
        options.width,
        options.arch,
        norm=options.d_norm,
        synchronized_batch_norm=distribution.replicas > 1,
        outputs=1 + condition.extra_outputs,
        init=options.init,
        features=options.d_features,
    )


def _make_optimizers(options: TrainOptions) -> list[Any]:
    """G's and D's optimizers, at the options' learning rates (inside the strategy's scope)."""
    from kgan.gan.step import make_optimizer

    return [
        make_optimizer(options.optimizer, learning_rate, options.beta1, options.beta2, options.momentum)
        for learning_rate in (options.generator_lr, options.discriminator_lr)
    ]


def _make_lookahead(options: TrainOptions, generator: Any, discriminator: Any) -> Any:
    """Slow copies of G's and D's weights as --lookahead says (None when off); inside the strategy's scope."""
    if options.lookahead is None:
        return None
    from kgan.gan.lookahead import Lookahead, LookaheadSpec

    return Lookahead(LookaheadSpec.parse(options.lookahead), generator, discriminator, options.critic_steps)


def _load_lookahead(lookahead: Any, checkpoint: Any) -> None:
    """Set the slow copies from the checkpoint; RunError when it and config.json disagree."""
    from kgan.checkpoints import load_lookahead

    arrays = load_lookahead(checkpoint)
    if (arrays is None) != (lookahead is None):
        raise RunError(f"{checkpoint.path} does not match config.json: lookahead copies are missing or extra")
    if lookahead is not None:
        try:
            lookahead.load(arrays)
        except ValueError as error:
            raise RunError(f"{checkpoint.path}: the lookahead copies do not fit the networks ({error})") from None


def _check_shapes(generator: Any, discriminator: Any, config: RunConfig, checkpoint: Path) -> None:
    model = config.model
    image_shape = (None, model.resolution, model.resolution, model.channels)
    if tuple(generator.input_shape) != (None, model.input_size) or tuple(generator.output_shape) != image_shape:
        raise RunError(f"{checkpoint} holds a generator that does not match config.json")
    if tuple(discriminator.input_shape)[:3] != image_shape[:3]:
        raise RunError(f"{checkpoint} holds a discriminator that does not match config.json")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _name_hint(data_dir: Path) -> str:
    from kgan.images.embedded import embedded_data_dir

    embedded = embedded_data_dir()
    if embedded is not None and Path(data_dir).resolve() == embedded.resolve():
        return "fashion-mnist"
    return Path(data_dir).resolve().stem or "run"


def _config(
    options: TrainOptions,
    folder: ImageFolder,
    seed: int,
    precision: str,
    runtime: dict[str, Any],
    condition: Condition,
    labels: np.ndarray,
) -> dict[str, Any]:
    from kgan import backend

    class_counts = condition.class_counts(labels)
    return {
        "kgan_version": __version__,
        **backend.versions(),
        "created_at": _now(),
        "seed": seed,
        "options": options.to_json(),
        "model": {
            "arch": options.arch,
            "resolution": folder.resolution,
            "channels": folder.channels,
            "latent_dim": options.latent_dim,
            "width": options.width,
            "g_width": options.g_width,
            "d_features": options.d_features,
            "discriminator_output": DISCRIMINATOR_OUTPUT[options.arch],
            "precision": precision,
            "condition": condition.to_json(),
            "code_size": condition.code_size,
            "ema": options.ema is not None,
            "loss": options.loss,
        },
        "runtime": runtime,
        "data": {
            "path": str(Path(options.data_dir).resolve()),
            "fingerprint": folder.fingerprint,
            "images": len(folder.files),
            "skipped": folder.skip_counts(),
            **({"classes": class_counts} if class_counts else {}),
            **({"videos": folder.videos} if folder.videos else {}),
        },
    }

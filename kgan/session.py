"""Starting a training session: a new run, or a saved one picked up where it stopped.

Either way the loop gets the same things: the run folder, the images, the
networks with their optimizers, the fixed sample noise and the counters (step,
images seen, elapsed seconds). Everything read back from a run folder is
checked, and a damaged or tampered file is named in a one-line error.
"""

from __future__ import annotations

import io
import json
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kgan import __version__
from kgan.augment import parse_policies
from kgan.clips import ClipPolicy
from kgan.conditions import ClassCondition, InfoCodes, NoCondition, condition_from_json
from kgan.dataset import ImageFolder, load_image_folder
from kgan.errors import DataError, RunError
from kgan.options import DISCRIMINATOR_OUTPUT, WGAN_GP_BETAS, TrainOptions
from kgan.progress import Reporter, format_elapsed
from kgan.runs import Run, create_run, write_bytes_atomic, write_json_atomic

SAMPLE_GRID_SIZE = 64


def sample_noise(seed: int, count: int, latent_dim: int, condition: NoCondition) -> np.ndarray:
    """The fixed generator inputs (noise and codes) behind a run's sample grids.

    For a conditional run each row of the grid is one class; for InfoGAN each
    row one value of the categorical code.
    """
    rng = np.random.default_rng([seed, 2])
    noise = rng.standard_normal((count, latent_dim), dtype=np.float32)
    if isinstance(condition, ClassCondition):
        rows = np.arange(count) * len(condition.classes) // count
        return np.concatenate([noise, condition.one_hot(rows)], axis=1)
    if isinstance(condition, InfoCodes):
        codes = condition.codes_for_fakes(rng, np.zeros(count, dtype=np.int64))
        codes[:, : condition.categories] = np.eye(condition.categories)[
            np.arange(count) * condition.categories // count
        ]
        return np.concatenate([noise, codes], axis=1)
    return noise


@dataclass
class Session:
    """Everything the loop needs, whether the run is new or resumed."""

    run: Run
    options: TrainOptions
    folder: ImageFolder
    trainer: Any  # kgan.trainer.GanTrainer, imported lazily
    seed: int
    fixed_noise: np.ndarray
    distribution: Any  # kgan.distribute.Distribution
    labels: np.ndarray  # one class index per image (zeros unless the run is conditional)
    condition: NoCondition
    step: int = 0
    images_seen: int = 0
    elapsed_before: float = 0.0
    # A worker's scratch folder (multi-worker runs): removed when training ends.
    scratch: Path | None = None
    # FID and KID every --eval-every steps (on the chief): the feature model, and the
    # real images' features once they have been computed.
    evaluator: Any = None
    real_features: np.ndarray | None = None

    @property
    def multiworker(self) -> bool:
        return self.distribution.name == "multiworker"


def _set_up_runtime(options: TrainOptions, seed: int, reporter: Reporter) -> Any:
    """Seed, determinism, strategy and precision, in the order TensorFlow needs them."""
    from kgan import backend
    from kgan.distribute import check_batch_split, make_distribution

    if options.seed is not None:
        backend.make_deterministic()
    distribution = make_distribution(options.strategy)
    check_batch_split(options.batch_size, distribution.replicas)
    evaluator = _make_evaluator(options, distribution) if options.eval_every else None
    precision = backend.choose_precision(options.precision)
    backend.use_precision(precision)
    backend.keras_module().utils.set_random_seed(seed)
    reporter.message(f"running on {backend.describe_devices()}, {precision}, {distribution.describe()}")
    return distribution, precision, evaluator


def _make_evaluator(options: TrainOptions, distribution: Any) -> Any:
    """Load the feature model now, so that missing weights stop the run before it trains."""
    if not distribution.is_chief:
        return None
    from kgan import backend
    from kgan.evaluation import load_feature_model

    # Features are computed in float32 whatever the training precision.
    with backend.precision_scope("float32"):
        return load_feature_model(options.eval_features, options.eval_weights)


def _scratch_run() -> tuple[Run, Path]:
    """Somewhere for a non-chief worker to write, so that only the chief writes the run."""
    scratch = Path(tempfile.mkdtemp(prefix="kgan-worker-"))
    return create_run(scratch, "run", name_hint="run"), scratch


def _load_folder(
    options: TrainOptions, resolution: int | None, channels: int | None, reporter: Reporter
) -> ImageFolder:
    clips = ClipPolicy(options.video_stride, options.max_frames_per_video)
    folder = load_image_folder(
        options.data_dir, resolution, channels, options.fit, options.background, options.cache_dir, clips=clips
    )
    cached = {"read": ", read from the data cache", "written": ", now cached"}.get(folder.cache, "")
    if folder.cache.startswith("unavailable"):
        cached = f", data cache {folder.cache}"
    reporter.message(f"{folder.summary()} from {options.data_dir}{cached}")
    return folder


def new_session(options: TrainOptions, reporter: Reporter) -> Session:
    """Start a new run: load the images, set up the devices, create the run folder and the networks."""
    from kgan.distribute import multiworker_seed

    seed = options.seed
    if seed is None:
        seed = multiworker_seed() if options.strategy == "multiworker" else secrets.randbelow(2**31)

    # Load training set.
    folder = _load_folder(options, options.resolution, options.channels, reporter)
    condition = condition_for(options, folder)
    labels = labels_for(condition, folder)

    # Set up devices, then create the run folder (the chief's, on a multi-worker run).
    distribution, precision, evaluator = _set_up_runtime(options, seed, reporter)
    scratch = None
    if distribution.is_chief:
        run = create_run(options.runs_dir, options.name, name_hint=_name_hint(options.data_dir))
    else:
        run, scratch = _scratch_run()
    write_json_atomic(run.config_path, _config(options, folder, seed, precision, distribution, condition, labels))
    write_json_atomic(run.skipped_path, [vars(item) for item in folder.skipped])
    fixed_noise = sample_noise(seed, SAMPLE_GRID_SIZE, options.latent_dim, condition)
    _save_array(run.sample_noise_path, fixed_noise)
    reporter.message(f"run folder: {run.path}")

    # Construct networks.
    trainer = _build_trainer(options, folder, condition, distribution)
    reporter.message(
        f"{options.arch} at {folder.resolution}x{folder.resolution}x{folder.channels}: "
        f"G {trainer.generator.count_params():,} and D {trainer.discriminator.count_params():,} parameters, "
        f"batch {options.batch_size}, seed {seed}"
    )
    return Session(
        run,
        options,
        folder,
        trainer,
        seed,
        fixed_noise,
        distribution,
        labels,
        condition,
        scratch=scratch,
        evaluator=evaluator,
    )


def condition_for(options: TrainOptions, folder: ImageFolder) -> NoCondition:
    """What G gets besides noise: the folder's classes, InfoGAN codes, or nothing."""
    if options.conditional:
        return ClassCondition(tuple(sorted({_class_of(name) for name in folder.files})))
    if options.info_codes:
        return InfoCodes(options.info_categories, options.info_continuous)
    return NoCondition()


def _class_of(relative_path: str) -> str:
    parts = Path(relative_path).parts
    if len(parts) < 2:
        raise DataError(f"--conditional needs one subfolder per class, but {relative_path} is not in one")
    return parts[0]


def labels_for(condition: NoCondition, folder: ImageFolder) -> np.ndarray:
    """Each image's class index (all zeros without classes)."""
    if not isinstance(condition, ClassCondition):
        return np.zeros(len(folder.files), dtype=np.int64)
    if len(condition.classes) < 2:
        raise DataError("--conditional needs at least two classes (subfolders with images)")
    index = {name: i for i, name in enumerate(condition.classes)}
    labels = []
    for name in folder.files:
        found = index.get(_class_of(name))
        if found is None:
            raise DataError(f"{name} is in a class the run was not trained on ({', '.join(condition.classes)})")
        labels.append(found)
    return np.array(labels, dtype=np.int64)


def gan_setup(options: TrainOptions, condition: NoCondition) -> Any:
    """The trainer's variant pieces, from the options."""
    from kgan.losses import AdversarialLoss
    from kgan.trainer import GanSetup

    return GanSetup(
        loss=AdversarialLoss(options.loss, from_logits=DISCRIMINATOR_OUTPUT[options.arch] == "logits"),
        condition=condition,
        augment=parse_policies(options.augment),
        critic_steps=options.critic_steps,
        gradient_penalty_weight=options.gp_weight,
        ema_decay=options.ema,
    )


def _build_trainer(options: TrainOptions, folder: ImageFolder, condition: NoCondition, distribution: Any) -> Any:
    """New networks and optimizers, as the options say, for the folder's image size."""
    from kgan.ema import make_average
    from kgan.models import build_discriminator, build_generator
    from kgan.trainer import GanTrainer, make_optimizer

    betas = WGAN_GP_BETAS if options.loss == "wgan-gp" else (0.5, 0.999)
    with distribution.strategy.scope():
        generator = build_generator(
            folder.resolution,
            folder.channels,
            options.latent_dim + condition.code_size,
            options.width,
            options.arch,
            synchronized_batch_norm=distribution.replicas > 1,
        )
        discriminator = build_discriminator(
            folder.resolution,
            folder.channels + condition.discriminator_channels,
            options.width,
            options.arch,
            outputs=1 + condition.extra_outputs,
        )
        generator_optimizer = make_optimizer(options.optimizer, options.generator_lr, *betas)
        discriminator_optimizer = make_optimizer(options.optimizer, options.discriminator_lr, *betas)
        average = make_average(generator) if options.ema is not None else None
    return GanTrainer(
        generator,
        discriminator,
        generator_optimizer,
        discriminator_optimizer,
        gan_setup(options, condition),
        distribution.strategy,
        average,
    )


def resume_session(options: TrainOptions, reporter: Reporter) -> Session:
    """Pick a run up at its newest checkpoint, with every counter where it was."""
    run = Run(Path(options.resume))
    config = run.read_config()
    seed, model = _checked_seed_and_model(config, run)

    # Load training set, as the run first saw it.
    folder = _load_folder(options, model["resolution"], model["channels"], reporter)
    if folder.fingerprint != config.get("data", {}).get("fingerprint"):
        reporter.message("note: the images changed since the run started, so the batches will differ from before")
    try:
        condition = condition_from_json(model.get("condition"))
    except ValueError as error:
        raise RunError(f"{run.config_path} is damaged: {error}") from None
    labels = labels_for(condition, folder)
    fixed_noise = _load_sample_noise(run, options.latent_dim + condition.code_size)

    # Set up devices; a worker of a multi-worker run reads the run but writes elsewhere.
    distribution, _, evaluator = _set_up_runtime(options, seed, reporter)
    writes_to, scratch = (run, None) if distribution.is_chief else _scratch_run()

    # Load networks, optimizers and counters from the newest checkpoint.
    from kgan.checkpoints import load_for_training, remove_unfinished
    from kgan.trainer import GanTrainer

    if distribution.is_chief:
        remove_unfinished(run)
    checkpoint = run.latest_checkpoint()
    if checkpoint is None:
        # Killed before its first checkpoint: start again, inside the same folder.
        reporter.message(f"run {run.path} has no checkpoint yet; starting it again from step 0")
        trainer = _build_trainer(options, folder, condition, distribution)
    else:
        with distribution.strategy.scope():
            generator, discriminator, average, state = load_for_training(checkpoint)
        if (average is None) != (options.ema is None):
            raise RunError(f"{checkpoint} does not match config.json: the moving average of G is missing or extra")
        _check_shapes(generator, discriminator, model, options.latent_dim + condition.code_size, checkpoint)
        trainer = GanTrainer(
            generator,
            discriminator,
            generator.optimizer,
            discriminator.optimizer,
            gan_setup(options, condition),
            distribution.strategy,
            average,
        )
    session = Session(
        writes_to,
        options,
        folder,
        trainer,
        seed,
        fixed_noise,
        distribution,
        labels,
        condition,
        scratch=scratch,
        evaluator=evaluator,
    )
    if checkpoint is not None:
        session.step = _state_int(state, "step", checkpoint)
        session.images_seen = _state_int(state, "images_seen", checkpoint)
        session.elapsed_before = float(_state_number(state, "elapsed_seconds", checkpoint))
        reporter.message(f"resuming {run.path} at step {session.step:,} ({format_elapsed(session.elapsed_before)})")
    if distribution.is_chief:
        _truncate_log(run, session.step)
        config.setdefault("resumed", []).append(
            {"at_step": session.step, "at": _now(), "options": options.to_json(), "kgan_version": __version__}
        )
        config["options"] = options.to_json()
        write_json_atomic(run.config_path, config)
    return session


def _truncate_log(run: Run, step: int) -> None:
    """Drop log lines past the checkpoint being resumed from; they will be written again."""
    if not run.losses_path.exists():
        return
    kept = []
    with open(run.losses_path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            try:
                if int(json.loads(line)["step"]) <= step:
                    kept.append(line if line.endswith("\n") else line + "\n")
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill
    write_bytes_atomic(run.losses_path, "".join(kept).encode("utf-8"))


def _save_array(path: Path, array: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    write_bytes_atomic(path, buffer.getvalue())


def _load_sample_noise(run: Run, latent_dim: int) -> np.ndarray:
    path = run.sample_noise_path
    try:
        noise = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise RunError(f"{path} is missing") from None
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is damaged ({error})") from None
    if noise.dtype != np.float32 or noise.ndim != 2 or noise.shape[1] != latent_dim:
        raise RunError(f"{path} is damaged (expected float32 noise of shape (N, {latent_dim}), got {noise.shape})")
    return noise


def _checked_seed_and_model(config: dict[str, Any], run: Run) -> tuple[int, dict[str, Any]]:
    seed, model = config.get("seed"), config.get("model")
    where = run.config_path
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise RunError(f"{where} is damaged: 'seed' is not a whole number")
    if not isinstance(model, dict):
        raise RunError(f"{where} is damaged: 'model' is missing")
    for key in ("resolution", "channels", "latent_dim"):
        if not isinstance(model.get(key), int):
            raise RunError(f"{where} is damaged: 'model.{key}' is not a whole number")
    if model.get("discriminator_output") not in ("logits", "probabilities"):
        raise RunError(f"{where} is damaged: 'model.discriminator_output' is not logits or probabilities")
    return seed, model


def _check_shapes(generator: Any, discriminator: Any, model: dict[str, Any], input_size: int, checkpoint: Path) -> None:
    size = model["resolution"]
    image_shape = (None, size, size, model["channels"])
    if tuple(generator.input_shape) != (None, input_size) or tuple(generator.output_shape) != image_shape:
        raise RunError(f"{checkpoint} holds a generator that does not match config.json")
    if tuple(discriminator.input_shape)[:3] != image_shape[:3]:
        raise RunError(f"{checkpoint} holds a discriminator that does not match config.json")


def _state_number(state: dict[str, Any], key: str, checkpoint: Path) -> float:
    value = state.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise RunError(f"{checkpoint / 'state.json'} is damaged: {key!r} is missing or negative")
    return value


def _state_int(state: dict[str, Any], key: str, checkpoint: Path) -> int:
    value = _state_number(state, key, checkpoint)
    if not isinstance(value, int):
        raise RunError(f"{checkpoint / 'state.json'} is damaged: {key!r} is not a whole number")
    return value


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _name_hint(data_dir: Path) -> str:
    from kgan.paths import embedded_data_dir

    embedded = embedded_data_dir()
    if embedded is not None and Path(data_dir).resolve() == embedded.resolve():
        return "fashion-mnist"
    return Path(data_dir).resolve().stem or "run"


def _config(
    options: TrainOptions,
    folder: ImageFolder,
    seed: int,
    precision: str,
    distribution: Any,
    condition: NoCondition,
    labels: np.ndarray,
) -> dict[str, Any]:
    from kgan import backend

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
            "discriminator_output": DISCRIMINATOR_OUTPUT[options.arch],
            "precision": precision,
            "condition": condition.to_json(),
            "code_size": condition.code_size,
            "ema": options.ema is not None,
            "loss": options.loss,
        },
        "runtime": {"strategy": distribution.name, "replicas": distribution.replicas},
        "data": {
            "path": str(Path(options.data_dir).resolve()),
            "fingerprint": folder.fingerprint,
            "images": len(folder.files),
            "skipped": folder.skip_counts(),
            **_class_counts(condition, labels),
            **({"videos": folder.videos} if folder.videos else {}),
        },
    }


def _class_counts(condition: NoCondition, labels: np.ndarray) -> dict[str, Any]:
    if not isinstance(condition, ClassCondition):
        return {}
    counts = np.bincount(labels, minlength=len(condition.classes))
    return {"classes": {name: int(count) for name, count in zip(condition.classes, counts)}}

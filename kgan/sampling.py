"""Making new images with a trained generator: ``kgan sample``.

A generator's input is noise joined to the run's codes (class labels or
InfoGAN codes, if any); ``GeneratorSource`` knows the split from the run's
config.json. Every image is reproducible from the seed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kgan.conditions import ClassCondition, InfoCodes, NoCondition, condition_from_json
from kgan.errors import OptionError, RunError
from kgan.imaging import make_grid, save_png, to_uint8
from kgan.runs import CHECKPOINT_NAME, Run, checkpoint_step, resolve_checkpoint

INFERENCE_BATCH = 64
SWEEP_COLUMNS = 9
SWEEP_RANGE = 2.0  # continuous codes are trained on [-1, 1]; a sweep shows a little beyond


@dataclass
class GeneratorSource:
    """A loaded generator, where it came from, and what its input holds."""

    run: Run | None
    checkpoint: Path
    generator: object  # a keras.Model; typed loosely so this module imports without Keras
    condition: NoCondition = field(default_factory=NoCondition)
    averaged: bool = False

    @property
    def latent_dim(self) -> int:
        return int(self.generator.input_shape[-1]) - self.condition.code_size

    @property
    def step(self) -> int | None:
        for folder in (self.checkpoint, self.checkpoint.parent):
            if CHECKPOINT_NAME.match(folder.name):
                return checkpoint_step(folder)
        return None

    def describe(self) -> str:
        where = self.run.path if self.run else self.checkpoint
        text = f"{where} at step {self.step}" if self.step is not None else str(where)
        return text + (", moving average of G" if self.averaged else "")


@dataclass
class SampleResult:
    """Where ``write_samples`` put its files."""

    folder: Path
    images: list[Path]
    grid: Path
    seed: int


def load_generator_source(run_or_path: str | None, runs_dir: Path, average: bool = True) -> GeneratorSource:
    """Load the generator of the newest run, a named run, a checkpoint or a .keras file.

    ``average`` picks G's moving average where the run kept one.
    """
    from kgan import backend

    backend.keras_module()
    from kgan.checkpoints import load_generator
    from kgan.runs import AVERAGE_FILE

    run, checkpoint = resolve_checkpoint(run_or_path, runs_dir)
    condition: NoCondition = NoCondition()
    if run is not None and run.config_path.is_file():
        try:
            condition = condition_from_json(run.read_config().get("model", {}).get("condition"))
        except ValueError as error:
            raise RunError(f"{run.config_path} is damaged: {error}") from None
    averaged = average and checkpoint.is_dir() and (checkpoint / AVERAGE_FILE).is_file()
    generator = load_generator(checkpoint, average=average)
    source = GeneratorSource(run, checkpoint, generator, condition, averaged)
    if source.latent_dim < 1:
        raise RunError(f"{checkpoint} does not match its run's config.json (input too small for the codes)")
    return source


def noise_for_seed(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """Noise vectors for ``kgan sample``; the first k are the same for any count >= k."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim), dtype=np.float32)


def random_codes(condition: NoCondition, seed: int, count: int) -> np.ndarray:
    """Codes for ``count`` images when none are asked for: random classes, or random InfoGAN codes."""
    rng = np.random.default_rng([seed, 7])
    if isinstance(condition, ClassCondition):
        return condition.one_hot(rng.integers(0, len(condition.classes), count))
    return condition.codes_for_fakes(rng, np.zeros(count, dtype=np.int64))


def sweep_values(condition: InfoCodes, code: int, columns: int = SWEEP_COLUMNS) -> np.ndarray:
    """The values code ``code`` takes along a row: each category, or an even spread of a continuous code."""
    if code == 0:
        return np.eye(condition.categories, dtype=np.float32)
    values = np.linspace(-SWEEP_RANGE, SWEEP_RANGE, columns, dtype=np.float32)
    return values[:, None]


def set_code(condition: InfoCodes, codes: np.ndarray, code: int, value: np.ndarray) -> np.ndarray:
    """Codes with code ``code`` replaced by ``value`` (a one-hot row for code 0, a number otherwise)."""
    codes = codes.copy()
    if code == 0:
        codes[..., : condition.categories] = value
    else:
        codes[..., condition.categories + code - 1] = np.asarray(value)[..., 0]
    return codes


def check_sweep_code(condition: NoCondition, code: int) -> InfoCodes:
    if not isinstance(condition, InfoCodes):
        raise OptionError("--sweep-code needs a run trained with --info-codes")
    if not 0 <= code < condition.code_count:
        raise OptionError(
            f"--sweep-code {code}: the run has codes 0 (categorical, {condition.categories} values) "
            f"to {condition.code_count - 1} (continuous)"
        )
    return condition


def label_codes(condition: NoCondition, label: str) -> np.ndarray:
    """The one-hot code of a class given by name or index."""
    if not isinstance(condition, ClassCondition):
        raise OptionError("--label needs a run trained with --conditional")
    try:
        return condition.one_hot(np.array([condition.label_index(label)]))[0]
    except ValueError as error:
        raise OptionError(f"--label: {error}") from None


def generate(generator: object, inputs: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) from generator inputs, in fixed-size batches, G in inference mode."""
    from kgan import backend

    keras = backend.keras_module()
    batches = []
    for start in range(0, len(inputs), INFERENCE_BATCH):
        images = generator(inputs[start : start + INFERENCE_BATCH], training=False)
        batches.append(to_uint8(keras.ops.convert_to_numpy(images)))
    return np.concatenate(batches)


def sample_inputs(
    source: GeneratorSource, count: int, seed: int, label: str | None = None, sweep_code: int | None = None
) -> tuple[np.ndarray, int | None]:
    """Generator inputs for ``kgan sample`` and the grid's column count (None: square).

    ``label`` "all" gives ``count`` images per class, one row each; a sweep
    gives ``count`` rows, each varying one code with the rest fixed.
    """
    condition = source.condition
    if label is not None and sweep_code is not None:
        raise OptionError("give --label or --sweep-code, not both")
    if sweep_code is not None:
        info = check_sweep_code(condition, sweep_code)
        values = sweep_values(info, sweep_code)
        noise = np.repeat(noise_for_seed(seed, count, source.latent_dim), len(values), axis=0)
        codes = np.repeat(random_codes(info, seed, count), len(values), axis=0)
        codes = set_code(info, codes, sweep_code, np.tile(values, (count, 1)))
        return np.concatenate([noise, codes], axis=1), len(values)
    if label == "all":
        if not isinstance(condition, ClassCondition):
            raise OptionError("--label needs a run trained with --conditional")
        classes = len(condition.classes)
        noise = np.tile(noise_for_seed(seed, count, source.latent_dim), (classes, 1))
        codes = condition.one_hot(np.repeat(np.arange(classes), count))
        return np.concatenate([noise, codes], axis=1), count
    noise = noise_for_seed(seed, count, source.latent_dim)
    if label is not None:
        codes = np.tile(label_codes(condition, label), (count, 1))
    else:
        codes = random_codes(condition, seed, count)
    return np.concatenate([noise, codes], axis=1), None


def write_samples(
    source: GeneratorSource,
    count: int,
    seed: int | None = None,
    out: Path | None = None,
    label: str | None = None,
    sweep_code: int | None = None,
) -> SampleResult:
    """Write PNG images and one grid of them; the same seed gives the same files."""
    if count < 1:
        raise OptionError(f"-n must be at least 1, not {count}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    inputs, columns = sample_inputs(source, count, seed, label, sweep_code)
    if out is None:
        if source.run is None:
            raise OptionError("a lone .keras file has no run folder to write into; pass --out")
        out = source.run.new_numbered_folder("generated")
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OptionError(f"cannot create --out {out}: {error.strerror or error}") from None
    images = generate(source.generator, inputs)
    digits = max(4, len(str(len(images) - 1)))
    paths = []
    for index, image in enumerate(images):
        path = out / f"sample-{index:0{digits}d}.png"
        save_png(path, image)
        paths.append(path)
    grid_path = out / "grid.png"
    save_png(grid_path, make_grid(images, columns))
    info = {
        "seed": seed,
        "count": len(images),
        "checkpoint": str(source.checkpoint),
        "step": source.step,
        "moving_average": source.averaged,
        "label": label,
        "sweep_code": sweep_code,
    }
    (out / "sample.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return SampleResult(folder=out, images=paths, grid=grid_path, seed=seed)

"""Making new images with a trained generator: ``kgan sample``."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgan.errors import OptionError
from kgan.imaging import make_grid, save_png, to_uint8
from kgan.runs import CHECKPOINT_NAME, Run, checkpoint_step, resolve_checkpoint

INFERENCE_BATCH = 64


@dataclass
class GeneratorSource:
    """A loaded generator and where it came from."""

    run: Run | None
    checkpoint: Path
    generator: object  # a keras.Model; typed loosely so this module imports without Keras

    @property
    def latent_dim(self) -> int:
        return int(self.generator.input_shape[-1])

    @property
    def step(self) -> int | None:
        folder = self.checkpoint if self.checkpoint.is_dir() else self.checkpoint.parent
        return checkpoint_step(folder) if CHECKPOINT_NAME.match(folder.name) else None

    def describe(self) -> str:
        where = self.run.path if self.run else self.checkpoint
        return f"{where} at step {self.step}" if self.step is not None else str(where)


@dataclass
class SampleResult:
    """Where ``write_samples`` put its files."""

    folder: Path
    images: list[Path]
    grid: Path
    seed: int


def load_generator_source(run_or_path: str | None, runs_dir: Path) -> GeneratorSource:
    """Load the generator of the newest run, a named run, a checkpoint or a .keras file."""
    from kgan import backend

    backend.keras_module()
    from kgan.checkpoints import load_generator

    run, checkpoint = resolve_checkpoint(run_or_path, runs_dir)
    return GeneratorSource(run=run, checkpoint=checkpoint, generator=load_generator(checkpoint))


def noise_for_seed(seed: int, count: int, latent_dim: int) -> np.ndarray:
    """Noise vectors for ``kgan sample``; the first k are the same for any count >= k."""
    return np.random.default_rng(seed).standard_normal((count, latent_dim), dtype=np.float32)


def generate(generator: object, noise: np.ndarray) -> np.ndarray:
    """uint8 images (N, H, W, C) from noise, in fixed-size batches, G in inference mode."""
    from kgan import backend

    keras = backend.keras_module()
    batches = []
    for start in range(0, len(noise), INFERENCE_BATCH):
        images = generator(noise[start : start + INFERENCE_BATCH], training=False)
        batches.append(to_uint8(keras.ops.convert_to_numpy(images)))
    return np.concatenate(batches)


def write_samples(
    source: GeneratorSource, count: int, seed: int | None = None, out: Path | None = None
) -> SampleResult:
    """Write ``count`` PNG images and one grid of them; the same seed gives the same files."""
    if count < 1:
        raise OptionError(f"-n must be at least 1, not {count}")
    seed = secrets.randbelow(2**31) if seed is None else seed
    if out is None:
        if source.run is None:
            raise OptionError("a lone .keras file has no run folder to write into; pass --out")
        out = source.run.new_numbered_folder("generated")
    else:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OptionError(f"cannot create --out {out}: {error.strerror or error}") from None
    images = generate(source.generator, noise_for_seed(seed, count, source.latent_dim))
    digits = max(4, len(str(count - 1)))
    paths = []
    for index, image in enumerate(images):
        path = out / f"sample-{index:0{digits}d}.png"
        save_png(path, image)
        paths.append(path)
    grid_path = out / "grid.png"
    save_png(grid_path, make_grid(images))
    info = {"seed": seed, "count": count, "checkpoint": str(source.checkpoint), "step": source.step}
    (out / "sample.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return SampleResult(folder=out, images=paths, grid=grid_path, seed=seed)

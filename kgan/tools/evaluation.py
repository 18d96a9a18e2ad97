"""How good is a run? FID and KID between generated and real images: ``kgan eval``.

The standard features are Inception-v3's 2048 pool features at 299x299
(``keras.applications.InceptionV3(weights="imagenet", include_top=False,
pooling="avg")``), whose weights Keras downloads once for a user who is
online. ``--weights PATH`` takes a local copy of that file, and ``--features
PATH.keras`` any Keras model whose output is a feature vector (it gets pixel
values 0-255 at its own input size). Real and generated images go through the
same path: the run's resolution and channels, then resized to the feature
model's input. The real images' features are cached, keyed by the files.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kgan.backend import keras_module
from kgan.errors import KganError
from kgan.files import append_jsonl, file_sha256, write_array_atomic
from kgan.images.folders import load_image_folder
from kgan.model_files import load_imagenet_model, load_keras_file
from kgan.runs import Run
from kgan.tools.generator import GeneratorSource
from kgan.tools.metrics import frechet_distance_of, kernel_inception_distance
from kgan.tools.sample import sample_inputs

FEATURE_BATCH = 50
MAX_REAL_IMAGES = 50_000
KID_SUBSET = 1000


class EvalError(KganError):
    """The features cannot be computed: no weights, a bad feature model."""


@dataclass
class FeatureModel:
    """A network that maps images to feature vectors, and how to feed it."""

    name: str
    identity: str  # what the features depend on, for the cache key
    model: Any
    height: int
    width: int
    channels: int
    inception_scaling: bool

    def features(self, images: np.ndarray) -> np.ndarray:
        """Feature vectors (N, D) for uint8 images (N, H, W, C) of any size and 1 or 3 channels."""
        keras = keras_module()
        ops = keras.ops
        outputs = []
        for start in range(0, len(images), FEATURE_BATCH):
            batch = ops.cast(ops.convert_to_tensor(np.asarray(images[start : start + FEATURE_BATCH])), "float32")
            if batch.shape[-1] != self.channels:
                batch = ops.repeat(batch, 3, axis=-1) if self.channels == 3 else ops.mean(batch, -1, keepdims=True)
            if tuple(batch.shape[1:3]) != (self.height, self.width):
                batch = ops.image.resize(batch, (self.height, self.width), interpolation="bilinear")
            if self.inception_scaling:
                batch = batch / 127.5 - 1.0
            outputs.append(ops.convert_to_numpy(ops.cast(self.model(batch, training=False), "float32")))
        return np.concatenate(outputs)


def _file_digest(path: Path) -> str:
    return file_sha256(path)[:16]


def inception_features(weights: Path | None = None) -> FeatureModel:
    """Inception-v3 pool features: ImageNet weights from Keras' download, or from ``weights``."""
    model = load_imagenet_model("InceptionV3", weights, EvalError, pooling="avg", input_shape=(299, 299, 3))
    identity = f"inception_v3:{_file_digest(Path(weights)) if weights else 'imagenet'}"
    return FeatureModel("inception_v3", identity, model, 299, 299, 3, inception_scaling=True)


def keras_features(path: Path) -> FeatureModel:
    """Any Keras model (loaded in safe mode) whose output is one feature vector per image."""
    path = Path(path)
    model = load_keras_file(path, EvalError, "--features")
    if len(model.input_shape) != 4 or len(model.output_shape) != 2 or model.input_shape[-1] not in (1, 3):
        raise EvalError(
            f"{path} is not a feature model: it must take images (None, H, W, 1 or 3) and give vectors (None, D), "
            f"not {model.input_shape} -> {model.output_shape}"
        )
    _, height, width, channels = model.input_shape
    if height is None or width is None:
        raise EvalError(f"{path} must fix its input height and width")
    return FeatureModel(str(path), f"keras:{_file_digest(path)}", model, height, width, channels, False)


def load_feature_model(features: Path | None, weights: Path | None) -> FeatureModel:
    """The feature model the options name: a .keras file, or Inception-v3."""
    if features is not None and weights is not None:
        raise EvalError("--weights is for Inception-v3; a --features model carries its own")
    return keras_features(features) if features is not None else inception_features(weights)


@dataclass(frozen=True)
class RealImages:
    """Which real images to compare with, prepared as the run's images were."""

    folder: Path
    resolution: int
    channels: int
    fit: str = "crop"
    background: str = "white"


def real_features(real: RealImages, feature_model: FeatureModel, cache_dir: Path | None) -> np.ndarray:
    """Features of (up to 50,000 of) the real images, cached by the files and the feature model."""
    folder = load_image_folder(
        real.folder, real.resolution, real.channels, real.fit, real.background, cache_dir=cache_dir
    )
    key_text = json.dumps([folder.fingerprint, real.resolution, real.channels, real.fit, real.background,
                           feature_model.identity, MAX_REAL_IMAGES])  # fmt: skip
    key = hashlib.sha256(key_text.encode()).hexdigest()[:24]
    cached = cache_dir / "features" / f"{key}.npy" if cache_dir is not None else None
    if cached is not None and cached.is_file():
        try:
            return np.load(cached, allow_pickle=False)
        except (OSError, ValueError):
            pass  # damaged: compute again
    images = folder.images
    if len(images) > MAX_REAL_IMAGES:
        images = images[np.sort(np.random.default_rng(0).choice(len(images), MAX_REAL_IMAGES, replace=False))]
    features = feature_model.features(images)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            write_array_atomic(cached, features)
        except (OSError, KganError):
            pass  # an unwritable cache only costs time
    return features


@dataclass
class Evaluation:
    """FID and KID of a generator against real images."""

    fid: float
    kid: float
    kid_std: float
    n: int
    n_real: int
    features: str
    data: str
    step: int | None
    moving_average: bool

    def to_json(self) -> dict[str, Any]:
        record = dict(vars(self))
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return record

    def summary(self) -> str:
        where = f"step {self.step:,}: " if self.step is not None else ""
        return (
            f"{where}FID {self.fid:.2f}  KID {self.kid:.4f} ± {self.kid_std:.4f}  "
            f"({self.n:,} generated vs {self.n_real:,} real images, {Path(self.features).name} features)"
        )


def evaluate(
    source: GeneratorSource,
    real: RealImages,
    feature_model: FeatureModel,
    count: int,
    seed: int = 0,
    cache_dir: Path | None = None,
    reference: np.ndarray | None = None,
) -> Evaluation:
    """FID and KID between ``count`` generated images and the real images.

    ``reference`` gives the real images' features when the caller has them
    already (training evaluates many times against the same images).
    """
    if count < 2:
        raise EvalError(f"-n must be at least 2, not {count}")
    if reference is None:
        reference = real_features(real, feature_model, cache_dir)
    inputs, _ = sample_inputs(source, count, seed)
    generated = np.concatenate(
        [feature_model.features(source.images(inputs[i : i + 500])) for i in range(0, count, 500)]
    )
    kid, kid_std = kernel_inception_distance(generated, reference, subset_size=KID_SUBSET, seed=seed)
    return Evaluation(
        fid=frechet_distance_of(generated, reference),
        kid=kid,
        kid_std=kid_std,
        n=count,
        n_real=len(reference),
        features=feature_model.name,
        data=str(real.folder),
        step=source.step,
        moving_average=source.uses_ema,
    )


def real_images_for(run: Run, data: Path | None) -> RealImages:
    """The real images to compare a run with: ``data``, or the folder it trained on."""
    config = run.config()
    folder = Path(data) if data is not None else config.data_path
    if data is None and (folder is None or not folder.is_dir()):
        raise EvalError(f"the run's data folder {folder} is gone; pass the real images with --data DIR")
    model = config.model
    return RealImages(folder, model.resolution, model.channels, config.options.fit, config.options.background)


def append_metrics(run: Run, evaluation: Evaluation) -> None:
    """Add one line to the run's metrics.jsonl."""
    append_jsonl(run.metrics_path, evaluation.to_json())


def evaluate_run(
    run_path: str | None,
    runs_dir: Path,
    data: Path | None,
    count: int,
    features: Path | None = None,
    weights: Path | None = None,
    seed: int = 0,
    ema: bool = True,
    cache: bool = True,
    cache_dir: Path | None = None,
) -> tuple[Evaluation, Run]:
    """``kgan eval``: FID and KID of a run's generator against real images, appended to its metrics.jsonl."""
    from kgan.errors import OptionError
    from kgan.images.cache import default_cache_dir
    from kgan.tools.generator import load_generator_source

    if data is not None and not data.exists():
        raise OptionError(f"--data {data} does not exist")
    source = load_generator_source(run_path, runs_dir, ema=ema)
    if source.run is None:
        raise OptionError("kgan eval needs a run folder or checkpoint, not a lone .keras file")
    real = real_images_for(source.run, data)
    feature_model = load_feature_model(features, weights)
    result = evaluate(source, real, feature_model, count, seed, (cache_dir or default_cache_dir()) if cache else None)
    append_metrics(source.run, result)
    return result, source.run

"""Projection: find the generator input that best redraws a given picture (``kgan project``).

Each picture is prepared exactly as a training image of the run (size, fit,
background, channels). Then several random generator inputs (``starts``) are
optimised at once with Adam, the learning rate easing to zero along a cosine, to
lower a loss that mixes

* the pixel distance (mean squared error in G's [-1, 1] range), and
* a perceptual distance: features of the run's own discriminator (its
  convolutional body, always at hand offline) or of VGG16 (ImageNet weights,
  downloaded once by Keras or given with ``--weights``), each layer's features
  normalised per position so that every layer counts alike,

plus a light pull of the noise toward the shell where G's training noise lies.
The best start wins. Only the noise is optimised; a conditional run's class is
``--label``, or else every class is tried (the starts cycle through them), and an
InfoGAN run's codes are drawn at random per start.

The reconstruction is drawn from the winning input by the same code path as
``kgan sample --latents``, so the saved latent redraws it bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kgan.backend import keras_module, tensorflow_module
from kgan.errors import KganError, OptionError
from kgan.files import file_sha256, write_json_atomic
from kgan.images.folders import prepare_image
from kgan.images.pictures import make_grid, save_png, to_uint8
from kgan.model_files import load_imagenet_model
from kgan.random_streams import Stream, stream
from kgan.tools.generator import GeneratorSource
from kgan.tools.latents import check_truncation, save_latents

FEATURE_NETWORKS = ("discriminator", "vgg16")
VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3")
VGG_MIN_SIDE = 64  # VGG16 sees small pictures upsampled to this side
PRIOR_WEIGHT = 0.05  # the pull of the noise's mean square toward 1
VIDEO_SNAPSHOTS = 60
COMPARE_GAP = 4


class ProjectError(KganError):
    """A picture or a setting that projection cannot use."""


@dataclass(frozen=True)
class ProjectSettings:
    """How to project: the optimisation, the perceptual network, and what to draw the starts from."""

    steps: int = 300
    starts: int = 8
    learning_rate: float = 0.08
    perceptual_weight: float = 1.0
    features: str = "discriminator"
    weights: Path | None = None
    label: str | None = None
    truncation: float | None = None  # the random starts are drawn truncated
    seed: int = 0
    snapshots: bool = False  # keep pictures of the optimisation, for --video

    def check(self) -> None:
        if self.steps < 1:
            raise OptionError(f"--steps must be at least 1, not {self.steps}")
        if self.starts < 1:
            raise OptionError(f"--starts must be at least 1, not {self.starts}")
        if self.features not in FEATURE_NETWORKS:
            raise OptionError(f"--features must be one of {', '.join(FEATURE_NETWORKS)}, not {self.features!r}")
        if self.weights is not None and self.features != "vgg16":
            raise OptionError("--weights goes with --features vgg16")
        check_truncation(self.truncation)

    def key(self) -> str:
        """What a cached projection of the same picture must share to be reused."""
        fields = {**asdict(self), "weights": str(self.weights), "snapshots": None}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class Projection:
    """One picture projected: its target, the winning input, the redrawing and its scores."""

    path: Path
    target: np.ndarray  # uint8 (H, W, C), as a training image
    latent: np.ndarray  # float32 (input size,): noise, then codes
    reconstruction: np.ndarray  # uint8 (H, W, C), drawn from latent
    psnr: float
    perceptual: float
    losses: list[float] = field(default_factory=list)  # the winning start's loss at each step
    snapshots: list[np.ndarray] = field(default_factory=list)  # uint8 pictures along the way

    def comparison(self) -> np.ndarray:
        """Target and reconstruction side by side."""
        return make_grid(np.stack([self.target, self.reconstruction]), columns=2, padding=COMPARE_GAP)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 pictures, in dB (inf when identical)."""
    error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if error == 0 else 10 * math.log10(255.0**2 / error)


class PerceptualDistance:
    """Distance between pictures in [-1, 1] in the features of a fixed network."""

    def __init__(self, source: GeneratorSource, features: str, weights: Path | None):
        keras = keras_module()
        self.condition = source.condition
        self.channels = int(source.generator.output_shape[-1])
        if features == "vgg16":
            network = load_imagenet_model("VGG16", weights, ProjectError)
            outputs = [network.get_layer(name).output for name in VGG_LAYERS]
            self.network = keras.Model(network.inputs, outputs)
            self.prepare = self._vgg_input
        else:
            self.network = _discriminator_features(source)
            self.prepare = self._discriminator_input

    def _discriminator_input(self, images: Any, codes: Any) -> Any:
        return self.condition.discriminator_input(keras_module().ops, images, codes)

    def _vgg_input(self, images: Any, codes: Any) -> Any:
        ops = keras_module().ops
        if self.channels == 1:
            images = ops.repeat(images, 3, axis=-1)
        side = images.shape[1]
        if side < VGG_MIN_SIDE:
            images = ops.image.resize(images, (VGG_MIN_SIDE, VGG_MIN_SIDE), interpolation="bilinear")
        pixels = (images + 1.0) * 127.5
        return pixels[..., ::-1] - ops.convert_to_tensor([103.939, 116.779, 123.68])

    def features(self, images: Any, codes: Any) -> list[Any]:
        ops = keras_module().ops
        outputs = self.network(self.prepare(ops.cast(images, "float32"), codes), training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        normalised = []
        for output in outputs:
            output = ops.cast(output, "float32")
            norm = ops.sqrt(ops.sum(output * output, axis=-1, keepdims=True) + 1e-8)
            normalised.append(output / norm)
        return normalised

    def distance(self, features_a: list[Any], features_b: list[Any]) -> Any:
        """Per-picture distance: the mean squared difference of normalised features, summed over layers."""
        ops = keras_module().ops
        total = 0.0
        for a, b in zip(features_a, features_b):
            total = total + ops.mean(ops.square(a - b), axis=tuple(range(1, len(a.shape)))) * a.shape[-1]
        return total


def _discriminator_features(source: GeneratorSource) -> Any:
    """The activations of the run's discriminator body (every LeakyReLU before the head)."""
    from kgan.checkpoints import load_discriminator
    from kgan.gan.growing import judging_discriminator

    keras = keras_module()
    if source.checkpoint is None or not Path(source.checkpoint).is_dir():
        raise ProjectError(
            "--features discriminator needs a checkpoint folder (a lone .keras file has no discriminator); "
            "use --features vgg16"
        )
    model = judging_discriminator(load_discriminator(source.checkpoint))
    inputs = keras.Input(model.input_shape[1:])
    tensor, outputs = inputs, []
    for layer in model.layers:
        if type(layer).__name__ in ("Flatten", "Dense", "Dropout", "GlobalAveragePooling2D"):
            break
        tensor = layer(tensor)
        if "relu" in type(layer).__name__.lower() or "activation" in type(layer).__name__.lower():
            outputs.append(tensor)
    if not outputs:
        outputs = [tensor]
    return keras.Model(inputs, outputs)


class Projector:
    """Projects pictures into one generator; built once, used for each picture."""

    def __init__(self, source: GeneratorSource, settings: ProjectSettings):
        settings.check()
        self.source, self.settings = source, settings
        config_options = source.run.config().options if source.run is not None else None
        self.fit = config_options.fit if config_options else "crop"
        self.background = config_options.background if config_options else "white"
        shape = source.generator.output_shape
        self.resolution, self.channels = int(shape[1]), int(shape[-1])
        if settings.label is not None:
            source.condition.label_codes(settings.label)  # checks the label before any work
        self.perceptual = PerceptualDistance(source, settings.features, settings.weights)

    def prepare(self, path: Path) -> np.ndarray:
        """The picture as a training image of this run (DataError naming the problem otherwise)."""
        return prepare_image(path, self.resolution, self.channels, self.fit, self.background)

    def _starts(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Starting noise (truncated if asked) and the fixed codes of each start."""
        source, settings = self.source, self.settings
        condition = source.condition
        rng = stream(settings.seed, Stream.PROJECTION_STARTS, index)
        if settings.label is not None:
            codes = np.tile(condition.label_codes(settings.label), (settings.starts, 1))
        elif condition.class_names:
            classes = len(condition.class_names)
            starts = max(settings.starts, classes)
            codes = condition.per_class_codes(1)[np.arange(starts) % classes]
        else:
            codes = condition.random_codes(rng, settings.starts)
        noise = rng.standard_normal((len(codes), source.latent_dim)).astype(np.float32)
        if settings.truncation is not None:
            noise *= np.float32(settings.truncation)
        return noise, codes.astype(np.float32).reshape(len(codes), condition.code_size)

    def project(self, path: Path, index: int = 0, target: np.ndarray | None = None) -> Projection:
        """Project one picture (``index`` picks its starts' random stream)."""
        tf = tensorflow_module()
        keras = keras_module()
        settings, generator = self.settings, self.source.generator
        target = self.prepare(path) if target is None else target
        noise, codes = self._starts(index)
        starts = len(noise)
        target_unit = tf.constant(np.repeat(target[None].astype(np.float32) / 127.5 - 1.0, starts, axis=0))
        code_tensor = tf.constant(codes)
        target_features = [tf.stop_gradient(f) for f in self.perceptual.features(target_unit, code_tensor)]
        variable = tf.Variable(noise)
        schedule = keras.optimizers.schedules.CosineDecay(settings.learning_rate, settings.steps)
        optimizer = keras.optimizers.Adam(schedule)
        weight = settings.perceptual_weight

        def per_start_loss() -> tuple[Any, Any]:
            images = tf.cast(generator(tf.concat([variable, code_tensor], axis=1), training=False), tf.float32)
            pixel = tf.reduce_mean(tf.square(images - target_unit), axis=[1, 2, 3])
            perceptual = self.perceptual.distance(self.perceptual.features(images, code_tensor), target_features)
            prior = tf.square(tf.reduce_mean(tf.square(variable), axis=1) - 1.0)
            return pixel + weight * perceptual + PRIOR_WEIGHT * prior, images

        @tf.function
        def step() -> tuple[Any, Any]:
            with tf.GradientTape() as tape:
                losses, images = per_start_loss()
                total = tf.reduce_sum(losses)
            optimizer.apply_gradients([(tape.gradient(total, variable), variable)])
            return losses, images

        history, snapshots = [], []
        every = max(1, settings.steps // VIDEO_SNAPSHOTS)
        for number in range(settings.steps):
            losses, images = step()
            losses = losses.numpy()
            best = int(np.argmin(losses))
            history.append(float(losses[best]))
            if settings.snapshots and (number % every == 0 or number == settings.steps - 1):
                snapshots.append(to_uint8(images.numpy()[best]))
        final_losses, _ = per_start_loss()
        best = int(np.argmin(final_losses.numpy()))
        latent = np.concatenate([variable.numpy()[best], codes[best]]).astype(np.float32)
        reconstruction = self.source.images(latent[None])[0]
        recon_unit = tf.constant(reconstruction[None].astype(np.float32) / 127.5 - 1.0)
        one_code = code_tensor[best : best + 1]
        distance = self.perceptual.distance(
            self.perceptual.features(recon_unit, one_code), self.perceptual.features(target_unit[:1], one_code)
        )
        return Projection(
            Path(path), target, latent, reconstruction, psnr(target, reconstruction), float(distance.numpy()[0]),
            history, snapshots,
        )  # fmt: skip


@dataclass
class ProjectedFiles:
    """What ``write_projection`` wrote for one picture."""

    latent: Path
    reconstruction: Path
    comparison: Path
    video: Path | None = None


def write_projection(projection: Projection, folder: Path, stem: str, video_suffix: str | None) -> ProjectedFiles:
    """The latent (.npy), the reconstruction, the side-by-side comparison and optionally the clip."""
    files = ProjectedFiles(folder / f"{stem}.npy", folder / f"{stem}.png", folder / f"{stem}-compare.png")
    save_latents(files.latent, projection.latent[None])
    save_png(files.reconstruction, projection.reconstruction)
    save_png(files.comparison, projection.comparison())
    if video_suffix and projection.snapshots:
        from kgan.tools.video import optimisation_video

        files.video = optimisation_video(projection, folder / f"{stem}{video_suffix}")
    return files


def unique_stems(paths: list[Path]) -> list[str]:
    """A file stem per picture, made unique where two pictures share a name."""
    stems, seen = [], {}
    for path in paths:
        stem = Path(path).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems


def cached_latent(source: GeneratorSource, projector: Projector, path: Path) -> np.ndarray:
    """The projected input of a picture, reused from the run's projection cache when the same picture
    was projected into the same checkpoint with the same settings before."""
    cache = None
    if source.run is not None:
        checkpoint = Path(source.checkpoint).name if source.checkpoint else "file"
        tag = f"{file_sha256(path)[:20]}-{checkpoint}-{'ema' if source.uses_ema else 'g'}-{projector.settings.key()}"
        cache = source.run.path / "projected" / "latents" / f"{tag}.npy"
        if cache.is_file():
            try:
                latent = np.load(cache, allow_pickle=False)
                if latent.shape == (1, source.input_size):
                    return latent[0]
            except (OSError, ValueError):
                pass  # damaged: project again
    latent = projector.project(path).latent
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_latents(cache, latent[None])
    return latent


def project_files(
    source: GeneratorSource,
    paths: list[Path],
    settings: ProjectSettings,
    out: Path,
    video_suffix: str | None = None,
    report: Callable[[str], None] = lambda text: None,
) -> tuple[list[tuple[Projection, ProjectedFiles]], list[str]]:
    """Project each picture into ``out``; a picture that cannot be read is reported and passed over.

    Returns the projections with their files, and one line per picture that failed.
    """
    projector = Projector(source, settings)
    out.mkdir(parents=True, exist_ok=True)
    done, failed, scores = [], [], []
    for index, (path, stem) in enumerate(zip(paths, unique_stems(paths))):
        try:
            projection = projector.project(path, index)
        except KganError as error:
            failed.append(str(error))
            report(f"error: {error}")
            continue
        files = write_projection(projection, out, stem, video_suffix)
        done.append((projection, files))
        scores.append(
            {"image": str(Path(path).absolute()), "latent": files.latent.name, "psnr": round(projection.psnr, 3),
             "perceptual": round(projection.perceptual, 5), "final_loss": projection.losses[-1]}
        )  # fmt: skip
        report(f"{path}: PSNR {projection.psnr:.2f} dB, perceptual {projection.perceptual:.4f} -> {files.latent}")
    info = {
        "checkpoint": str(source.checkpoint),
        "step": source.step,
        "moving_average": source.uses_ema,
        "settings": {**asdict(settings), "weights": str(settings.weights) if settings.weights else None},
        "images": scores,
        "failed": failed,
    }
    write_json_atomic(out / "projection.json", info)
    return done, failed

"""DeepDream: change the image, not the weights, so a network's chosen layers fire harder.

As in the seed (Mordvintsev et al., Google's DeepDream): gradient ascent on the
image to maximise the mean square of the chosen layers' activations, with
steps normalised by the gradient's mean size, run at several scales
("octaves") from small to full size, putting back after each octave the
detail that shrinking the image lost. With a guide image, the objective is
instead the match between the image's activations and the guide's average
activation, so only "the guide's features" grow.

Models: a run's discriminator (what kgan's own critic has learned), the
ImageNet classifiers VGG16 and Inception-v3 (weights downloaded once by Keras,
or ``--weights PATH``), or any .keras model. The image is kept in pixel units
(0-255) and each model prepares it its own way. Gradients are computed on
tiles, with a random shift each step so tile edges never show, so memory
stays bounded for large images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kgan.backend import keras_module, tensorflow_module
from kgan.errors import KganError
from kgan.model_files import load_imagenet_model, load_keras_file

IMAGENET_MODELS = {
    "vgg16": ("VGG16", ("block4_conv3",)),
    "inceptionv3": ("InceptionV3", ("mixed3", "mixed5")),
}
TILE = 512
JITTER = 32


class DreamError(KganError):
    """The dream model or a layer cannot be had."""


@dataclass
class DreamModel:
    """A network to dream with: its layers, how it takes pixels, and which channels it sees."""

    name: str
    model: Any
    default_layers: tuple[str, ...]
    channels: int  # 1 or 3: the image is dreamt in this many channels
    scaling: str  # "unit" ([-1, 1]), "caffe" (VGG), or "pixels" (0-255 as is)
    extra_channels: int = 0  # zero planes appended (a conditional run's label channels)
    extractors: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def layers(self) -> list[tuple[str, tuple]]:
        """Every layer's name and output shape, input first."""
        return [(layer.name, tuple(_output_shape(layer))) for layer in self.model.layers]

    def prepare(self, pixels: Any) -> Any:
        ops = keras_module().ops
        if self.scaling == "unit":
            pixels = pixels / 127.5 - 1.0
        elif self.scaling == "caffe":
            # VGG's own preprocessing: BGR order, ImageNet channel means removed.
            pixels = pixels[..., ::-1] - ops.convert_to_tensor([103.939, 116.779, 123.68])
        if self.extra_channels:
            zeros = ops.zeros((*ops.shape(pixels)[:3], self.extra_channels), dtype=pixels.dtype)
            pixels = ops.concatenate([pixels, zeros], axis=-1)
        return pixels

    def extractor(self, layer_names: tuple[str, ...]) -> Any:
        """A model from the input to the named layers' outputs, for any image size."""
        if layer_names not in self.extractors:
            self.extractors[layer_names] = _activation_model(self.model, layer_names)
        return self.extractors[layer_names]


def _output_shape(layer: Any) -> Any:
    try:
        return layer.output.shape
    except (AttributeError, ValueError):
        return ()


def _activation_model(model: Any, layer_names: tuple[str, ...]) -> Any:
    keras = keras_module()
    known = [layer.name for layer in model.layers]
    for name in layer_names:
        if name not in known:
            raise DreamError(f"no layer {name!r}; see the names with --list-layers")
    if isinstance(model, keras.Sequential):
        # Rebuild on an input of any height and width, reusing the trained layers,
        # up to the last layer asked for (the dense head needs a fixed size).
        last = max(known.index(name) for name in layer_names)
        inputs = keras.Input((None, None, model.input_shape[-1]))
        outputs, tensor = {}, inputs
        for layer in model.layers[: last + 1]:
            tensor = layer(tensor)
            outputs[layer.name] = tensor
        return keras.Model(inputs, [outputs[name] for name in layer_names])
    return keras.Model(model.inputs, [model.get_layer(name).output for name in layer_names])


def discriminator_model(checkpoint: Path, channels: int) -> DreamModel:
    """A run's discriminator: its convolutional body, fed images in [-1, 1]."""
    from kgan.checkpoints import load_discriminator
    from kgan.gan.growing import judging_discriminator

    model = judging_discriminator(load_discriminator(checkpoint))
    # A projected D (kgan.gan.projected): dream with its pixel D, the part that learned from nothing but the run.
    names = {layer.name for layer in model.layers}
    if "pixel_discriminator" in names:
        model = model.get_layer("pixel_discriminator")
    body = []
    for layer in model.layers:
        if type(layer).__name__ in ("Flatten", "Dense", "Dropout"):
            break  # the dense head starts here
        body.append(layer.name)
    if not body:
        raise DreamError(f"{checkpoint} has a discriminator without convolutional layers")
    # The deepest activation before the dense head: what D has learned to look for.
    return DreamModel("discriminator", model, (body[-1],), channels, "unit", model.input_shape[-1] - channels)


def imagenet_model(name: str, weights: Path | None) -> DreamModel:
    """VGG16 or Inception-v3 with ImageNet weights (downloaded once by Keras) or a local weights file."""
    class_name, default_layers = IMAGENET_MODELS[name]
    model = load_imagenet_model(class_name, weights, DreamError)
    return DreamModel(name, model, default_layers, 3, "caffe" if name == "vgg16" else "unit")


def keras_file_model(path: Path) -> DreamModel:
    """Any .keras model (safe mode), fed pixel values 0-255."""
    path = Path(path)
    model = load_keras_file(path, DreamError, "--model")
    if len(model.input_shape) != 4 or model.input_shape[-1] not in (1, 3):
        raise DreamError(f"{path} does not take images (its input is {model.input_shape})")
    convolutional = [layer.name for layer in model.layers if "conv" in type(layer).__name__.lower()]
    default = (convolutional[-1],) if convolutional else (model.layers[-1].name,)
    return DreamModel(path.name, model, default, int(model.input_shape[-1]), "pixels")


@dataclass(frozen=True)
class DreamSettings:
    """How to dream: layers, steps per octave, octaves and their scale, step size, jitter seed."""

    layers: tuple[str, ...] = ()
    steps: int = 40
    octaves: int = 4
    octave_scale: float = 1.4
    step_size: float = 1.5
    seed: int = 0


def check_settings(settings: DreamSettings) -> None:
    """Raise DreamError for settings that cannot work."""
    if settings.steps < 1:
        raise DreamError(f"--steps must be at least 1, not {settings.steps}")
    if settings.octaves < 1:
        raise DreamError(f"--octaves must be at least 1, not {settings.octaves}")
    if not settings.octave_scale > 1:
        raise DreamError(f"--octave-scale must be above 1, not {settings.octave_scale}")
    if not settings.step_size > 0:
        raise DreamError(f"--step-size must be positive, not {settings.step_size}")


class Dreamer:
    """Runs DeepDream with one model and settings; ``objective_history`` records each step's value."""

    def __init__(self, dream_model: DreamModel, settings: DreamSettings, guide: Image.Image | None = None):
        check_settings(settings)
        self.dream_model = dream_model
        self.settings = settings
        self.layers = settings.layers or dream_model.default_layers
        self.extractor = dream_model.extractor(self.layers)
        self.objective_history: list[float] = []
        self.octaves_run = 0
        self._rng = np.random.default_rng(settings.seed)
        self._guide = self._guide_targets(guide) if guide is not None else None
        tf = tensorflow_module()
        self._gradient = tf.function(self._objective_and_gradient, reduce_retracing=True)

    def _activations(self, pixels: Any) -> list[Any]:
        outputs = self.extractor(self.dream_model.prepare(pixels), training=False)
        return outputs if isinstance(outputs, (list, tuple)) else [outputs]

    def _guide_targets(self, guide: Image.Image) -> list[np.ndarray]:
        """The guide's average activation vector in each layer, scaled to unit length."""
        pixels = to_pixels(guide, self.dream_model.channels)[None]
        targets = []
        for activation in self._activations(keras_module().ops.convert_to_tensor(pixels)):
            vector = keras_module().ops.convert_to_numpy(activation).reshape(-1, activation.shape[-1]).mean(axis=0)
            targets.append(vector / (np.linalg.norm(vector) + 1e-8))
        return targets

    def _objective(self, pixels: Any) -> Any:
        ops = keras_module().ops
        total = 0.0
        for index, activation in enumerate(self._activations(pixels)):
            activation = ops.cast(activation, "float32")
            if self._guide is None:
                total = total + ops.mean(ops.square(activation))
            else:
                # How strongly each position points along the guide's features.
                total = total + ops.mean(ops.sum(activation * self._guide[index], axis=-1))
        return total

    def _objective_and_gradient(self, pixels: Any) -> tuple[Any, Any]:
        tf = tensorflow_module()
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            objective = self._objective(pixels)
        return objective, tape.gradient(objective, pixels)

    def objective(self, pixels: np.ndarray) -> float:
        """The objective for an image (H, W, C) in pixel units."""
        return float(self._objective(keras_module().ops.convert_to_tensor(pixels[None].astype(np.float32))))

    def _gradient_tiled(self, pixels: np.ndarray) -> tuple[float, np.ndarray]:
        """The gradient over the whole image, a tile at a time, after a random shift."""
        height, width = pixels.shape[:2]
        shift_y, shift_x = self._rng.integers(-JITTER, JITTER + 1, size=2)
        rolled = np.roll(pixels, (shift_y, shift_x), axis=(0, 1))
        gradient = np.zeros_like(rolled)
        objective = 0.0
        for top in range(0, height, TILE):
            for left in range(0, width, TILE):
                tile = rolled[top : top + TILE, left : left + TILE]
                value, tile_gradient = self._gradient(tile[None])
                gradient[top : top + TILE, left : left + TILE] = np.asarray(tile_gradient)[0]
                objective += float(value) * tile.shape[0] * tile.shape[1] / (height * width)
        return objective, np.roll(gradient, (-shift_y, -shift_x), axis=(0, 1))

    def ascend(self, pixels: np.ndarray, steps: int) -> np.ndarray:
        """``steps`` normalised gradient-ascent steps, pixels kept within 0-255."""
        pixels = pixels.astype(np.float32)
        for _ in range(steps):
            objective, gradient = self._gradient_tiled(pixels)
            self.objective_history.append(objective)
            gradient /= np.mean(np.abs(gradient)) + 1e-8
            pixels = np.clip(pixels + self.settings.step_size * gradient, 0.0, 255.0)
        return pixels

    def dream(self, pixels: np.ndarray, octaves: int | None = None, steps: int | None = None) -> np.ndarray:
        """Dream at ``octaves`` scales, smallest first; returns an image of the input's size."""
        octaves = self.settings.octaves if octaves is None else octaves
        steps = self.settings.steps if steps is None else steps
        original = pixels.astype(np.float32)
        height, width = original.shape[:2]
        sizes = [
            (
                max(8, round(height / self.settings.octave_scale**i)),
                max(8, round(width / self.settings.octave_scale**i)),
            )
            for i in reversed(range(octaves))
        ]
        shrunk_original = resize(original, sizes[0])
        image = shrunk_original
        for size in sizes:
            image = resize(image, size)
            image = self.ascend(image, steps)
            self.octaves_run += 1
            # Shrinking lost detail; put back what the original has at this size.
            lost_detail = resize(original, size) - resize(shrunk_original, size)
            image = np.clip(image + lost_detail, 0.0, 255.0)
            shrunk_original = resize(original, size)
        return image


def to_pixels(image: Image.Image, channels: int) -> np.ndarray:
    """A Pillow image as float32 pixels (H, W, channels) in 0-255."""
    image = image.convert("L" if channels == 1 else "RGB")
    pixels = np.asarray(image, dtype=np.float32)
    return pixels[..., None] if channels == 1 else pixels


def to_image(pixels: np.ndarray) -> Image.Image:
    """Float pixels (H, W, 1 or 3) in 0-255 as an 'L' or 'RGB' Pillow image."""
    array = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)


def resize(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize float pixels (H, W, C) to (height, width) with bicubic interpolation, channel by channel."""
    height, width = size
    if pixels.shape[:2] == (height, width):
        return pixels.copy()
    channels = [
        np.asarray(
            Image.fromarray(np.ascontiguousarray(pixels[..., c])).resize((width, height), Image.Resampling.BICUBIC)
        )
        for c in range(pixels.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def zoom(pixels: np.ndarray, factor: float) -> np.ndarray:
    """Crop the centre by ``factor`` and scale it back to the same size."""
    height, width = pixels.shape[:2]
    crop_h, crop_w = max(1, round(height / factor)), max(1, round(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return resize(pixels[top : top + crop_h, left : left + crop_w], (height, width))


def zoom_frames(dreamer: Dreamer, pixels: np.ndarray, frames: int, factor: float) -> Any:
    """Video frames: the full dream, then each next frame dreams briefly on a zoomed crop of the last."""
    if frames < 1:
        raise DreamError(f"--frames must be at least 1, not {frames}")
    if not factor >= 1:
        raise DreamError(f"--zoom must be at least 1, not {factor}")
    current = dreamer.dream(pixels)
    yield to_image(current)
    follow_up_steps = max(1, math.ceil(dreamer.settings.steps / 4))
    for _ in range(frames - 1):
        current = dreamer.dream(zoom(current, factor), octaves=1, steps=follow_up_steps)
        yield to_image(current)


@dataclass(frozen=True)
class DreamRequest:
    """What ``kgan dream`` was asked for: the image, the network, the settings and the output."""

    image: Path | None
    run_path: str | None = None
    runs_dir: Path = Path("runs")
    model_name: str | None = None  # vgg16, inceptionv3, a .keras path, or None for the run's discriminator
    weights: Path | None = None
    settings: DreamSettings = field(default_factory=DreamSettings)
    guide: Path | None = None
    frames: int | None = None  # a zoom video of this many frames instead of one image
    zoom: float = 1.05
    fps: float = 15.0
    out: Path | None = None


def check_request(request: DreamRequest, needs_image: bool = True) -> None:
    """Raise for a request that cannot work, before any network is loaded."""
    from kgan.errors import OptionError

    check_settings(request.settings)
    if needs_image and request.image is None:
        raise OptionError("give an IMAGE to dream on (or --list-layers)")
    if request.weights is not None and request.model_name not in IMAGENET_MODELS:
        raise OptionError("--weights goes with --model vgg16 or --model inceptionv3")
    if request.out is not None and request.frames is not None:
        from kgan.tools.video import check_video_path

        check_video_path(request.out)


def dream_model_for(request: DreamRequest) -> DreamModel:
    """The network to dream with: an ImageNet model, a .keras file, or a run's discriminator."""
    from kgan.errors import OptionError
    from kgan.runs import resolve_checkpoint

    keras_module()
    name = request.model_name
    if name is not None:
        if name in IMAGENET_MODELS:
            return imagenet_model(name, request.weights)
        if name.endswith(".keras"):
            return keras_file_model(Path(name))
        raise OptionError(f"--model must be vgg16, inceptionv3 or a .keras file, not {name!r}")
    run, checkpoint = resolve_checkpoint(request.run_path, request.runs_dir)
    if run is None or not checkpoint.is_dir():
        raise OptionError("dreaming with a discriminator needs a run folder or checkpoint folder")
    return discriminator_model(checkpoint, run.config().model.channels)


def list_layers(request: DreamRequest) -> list[tuple[str, tuple]]:
    """The dream network's layer names and output shapes."""
    check_request(request, needs_image=False)
    return dream_model_for(request).layers()


def dream_to_file(request: DreamRequest, report: Callable[[str], None] = lambda text: None) -> Path:
    """Dream on the request's image and write the picture (or, with ``frames``, the zoom video).

    ``report`` receives one line before the work starts and the result after.
    """
    from kgan.errors import OptionError
    from kgan.files import Numbered, publish_file
    from kgan.images.folders import read_image

    check_request(request)
    picture = read_image(request.image)
    guide = read_image(request.guide) if request.guide is not None else None
    dream_model = dream_model_for(request)
    dreamer = Dreamer(dream_model, request.settings, guide)
    pixels = to_pixels(picture, dream_model.channels)
    report(f"dreaming with {dream_model.name}, layers {', '.join(dreamer.layers)}, {picture.width}x{picture.height}")
    stem = f"{request.image.stem}-dream"
    if request.frames is None:
        picture = to_image(dreamer.dream(pixels))
        try:
            out, _ = publish_file(request.out or Numbered(Path("."), stem, ".png"), picture.save)
        except ValueError as error:
            raise OptionError(f"cannot write {request.out}: {error}") from None
    else:
        from kgan.tools.video import write_video

        frames = (frame.convert("RGB") for frame in zoom_frames(dreamer, pixels, request.frames, request.zoom))
        out, count = write_video(request.out or Numbered(Path("."), stem, ".mp4"), frames, request.fps)
        report(f"{count} frames")
    history = dreamer.objective_history
    report(f"wrote {out} (objective {history[0]:.3g} -> {history[-1]:.3g})")
    return out

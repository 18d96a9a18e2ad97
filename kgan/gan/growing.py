"""Growing a run from half size: the first part of the budget at half the image's side, the rest at full size.

A half-size step costs about a third of a full-size one, so the first part of a run makes about
three times the steps, and G learns whole shapes before it learns detail. One generator serves
both parts, so every checkpoint, sample grid, video and evaluation uses the same full-size G:

* G's last doubling is a ``GrowingOutput`` layer. Before the hand-over it draws a half-size
  picture and repeats each pixel four times (so that pooling D's input gives the picture back
  exactly), and its full-size layers neither run nor train. After it, the picture is the
  half-size one upsampled bilinearly plus a full-size block's detail, whose last convolution
  starts at zero: G draws what it drew, and learns the detail from there.
* D is a half-size D on the image average-pooled to half size (``half_size_discriminator``).
  At the hand-over a new full-size D is put beside it (``grown_discriminator``): D's scores
  are both Ds' columns, which the loss averages.

The hand-over itself (new optimizers, new lookahead copies) is ``kgan.session.grow_to_full_size``;
``kgan.loop`` calls it when ``--grow`` of the budget is spent. In code, options and files this
idea is called "grow"; the two parts of a run are "half size" and "full size".
"""

from __future__ import annotations

from typing import Any

from kgan.backend import keras_module
from kgan.gan.batch_norm import FusedBatchNormalization

keras = keras_module()
layers = keras.layers
ops = keras.ops

HALF_SIZE_D, FULL_SIZE_D = "half_size_discriminator", "full_size_discriminator"


@keras.saving.register_keras_serializable(package="kgan")
class GrowingOutput(layers.Layer):
    """G's last doubling, as a half-size picture first and a full-size one after ``grow()``.

    From feature maps of side S it makes a picture of side 4S: the ``half`` convolution draws one of
    side 2S, and the ``block`` (transposed convolution, batch norm, ReLU) then ``detail`` (starts at
    zero) add the full-size detail once the layer has grown.
    """

    def __init__(
        self,
        filters: int,
        channels: int,
        half_size: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        synchronized: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.filters, self.channels, self.synchronized = filters, channels, synchronized
        self.kernel_initializer = keras.initializers.serialize(keras.initializers.get(kernel_initializer))

        # The parts compute in this layer's dtype policy (a float32 copy of a bfloat16 G is float32 throughout).
        policy = self.dtype_policy

        def convolution(count: int, name: str, initializer: Any, use_bias: bool = True) -> Any:
            return layers.Conv2DTranspose(
                count, 4, strides=2, padding="same", use_bias=use_bias, kernel_initializer=initializer,
                name=name, dtype=policy,
            )  # fmt: skip

        # Each its own initializer object: an unseeded one fixes its seed when made.
        self.half = convolution(channels, "half_image", keras.initializers.get(self.kernel_initializer))
        self.block = convolution(filters, "block", keras.initializers.get(self.kernel_initializer), use_bias=False)
        self.norm = FusedBatchNormalization(synchronized=synchronized, name="block_norm", dtype=policy)
        self.detail = convolution(channels, "detail", "zeros")
        self.repeat = layers.UpSampling2D(2, interpolation="nearest", name="repeat", dtype=policy)
        self.upsample = layers.UpSampling2D(2, interpolation="bilinear", name="upsample", dtype=policy)
        self._set_half_size(half_size)

    @property
    def full_size_layers(self) -> tuple[Any, ...]:
        return (self.block, self.norm, self.detail)

    def _set_half_size(self, half_size: bool) -> None:
        self.half_size = half_size
        for layer in self.full_size_layers:
            layer.trainable = not half_size

    def grow(self) -> None:
        """From now on draw at full size, and train the full-size layers."""
        self._set_half_size(False)

    def build(self, input_shape: Any) -> None:
        self.half.build(input_shape)
        self.block.build(input_shape)
        block_shape = self.block.compute_output_shape(input_shape)
        self.norm.build(block_shape)
        self.detail.build(block_shape)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        half = self.half(inputs)
        if self.half_size:
            return self.repeat(half)
        block = ops.relu(self.norm(self.block(inputs), training=training))
        return self.upsample(half) + self.detail(block)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        batch, height, width, _ = input_shape
        return (batch, None if height is None else 4 * height, None if width is None else 4 * width, self.channels)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "channels": self.channels,
            "half_size": self.half_size,
            "kernel_initializer": self.kernel_initializer,
            "synchronized": self.synchronized,
        }


def growing_output(generator: Any) -> GrowingOutput | None:
    """A generator's ``GrowingOutput`` layer, or None when it was not built to grow."""
    return next((layer for layer in generator.layers if isinstance(layer, GrowingOutput)), None)


def draws_half_size(generator: Any) -> bool:
    """Whether a generator built to grow has not grown yet."""
    layer = growing_output(generator)
    return layer is not None and layer.half_size


def half_size_discriminator(half_size_d: Any, resolution: int, channels: int) -> Any:
    """D for the first part of a grown run: ``half_size_d`` on the full-size image average-pooled to half size."""
    half_size_d.name = HALF_SIZE_D
    return keras.Sequential(
        [
            keras.Input((resolution, resolution, channels), name="image"),
            layers.AveragePooling2D(2, name="to_half_size"),
            half_size_d,
        ],
        name="discriminator",
    )


def grown_discriminator(full_size_d: Any, half_size: Any) -> Any:
    """D after the hand-over: a new full-size D beside the first part's D (``half_size``), their scores side by side."""
    full_size_d.name, half_size.name = FULL_SIZE_D, "half_size_part"
    image = keras.Input(half_size.input_shape[1:], name="image")
    scores = layers.Concatenate(dtype="float32", name="both_sizes")([full_size_d(image), half_size(image)])
    return keras.Model(image, scores, name="discriminator")


def judging_discriminator(discriminator: Any) -> Any:
    """For tools that look inside D: a grown run's full-size D, else D itself."""
    names = {layer.name for layer in discriminator.layers}
    return discriminator.get_layer(FULL_SIZE_D) if FULL_SIZE_D in names else discriminator

"""kgan's own Keras layers, registered so that saved models naming them load.

``ResidualDown`` is one block of a residual discriminator (``--d-blocks
residual``): a strided 4x4 convolution, an optional batch norm and LeakyReLU,
plus a shortcut that halves the input by 2x2 average pooling and matches its
width with a 1x1 convolution. The two are summed and scaled by 1/sqrt(2) so
the sum's spread stays that of one branch. Inside a ``keras.Sequential`` the
block is one layer, so D stays a Sequential model.
"""

from __future__ import annotations

import math
from typing import Any

from kgan.backend import keras_module

keras = keras_module()
layers = keras.layers

__all__ = ["ResidualDown"]


@keras.saving.register_keras_serializable(package="kgan")
class ResidualDown(layers.Layer):
    """Halve the image and set its width to ``filters``: conv(4x4, stride 2) + shortcut, over sqrt(2).

    ``spectral`` wraps both convolutions in spectral normalization; ``batch_norm``
    adds a batch norm after the main convolution (which then has no bias).
    """

    def __init__(
        self, filters: int, spectral: bool = False, batch_norm: bool = False, synchronized: bool = False, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.spectral = bool(spectral)
        self.batch_norm = bool(batch_norm)
        self.synchronized = bool(synchronized)
        self.main = self._maybe_spectral(
            layers.Conv2D(self.filters, 4, strides=2, padding="same", use_bias=not self.batch_norm, name="main")
        )
        self.norm = layers.BatchNormalization(synchronized=self.synchronized, name="norm") if self.batch_norm else None
        self.activation = layers.LeakyReLU(negative_slope=0.2, name="activation")
        self.pool = layers.AveragePooling2D(2, padding="same", name="pool")
        self.shortcut = self._maybe_spectral(layers.Conv2D(self.filters, 1, use_bias=False, name="shortcut"))

    def _maybe_spectral(self, layer: Any) -> Any:
        if not self.spectral:
            return layer
        return layers.SpectralNormalization(layer, name=f"spectral_{layer.name}")

    def build(self, input_shape: Any) -> None:
        self.main.build(input_shape)
        main_shape = self.main.compute_output_shape(input_shape)
        if self.norm is not None:
            self.norm.build(main_shape)
        pooled_shape = self.pool.compute_output_shape(input_shape)
        self.shortcut.build(pooled_shape)

    def call(self, inputs: Any, training: Any = None) -> Any:
        main = self.main(inputs, training=training)
        if self.norm is not None:
            main = self.norm(main, training=training)
        main = self.activation(main)
        shortcut = self.shortcut(self.pool(inputs), training=training)
        return (main + shortcut) * (1.0 / math.sqrt(2.0))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.main.compute_output_shape(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "spectral": self.spectral,
            "batch_norm": self.batch_norm,
            "synchronized": self.synchronized,
        }

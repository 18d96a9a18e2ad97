"""The projected discriminator (Sauer et al. 2021): D judges images in a frozen ImageNet network's features.

D is one Keras functional model with two parts that score the same image:

* the pixel D: kgan's own discriminator for the image size (``pixel_discriminator``), on the pixels;
* the projected Ds: the image goes through EfficientNet-Lite1's first blocks (frozen; see
  ``kgan.gan.feature_network``), the feature maps after blocks 3 and 6 (a quarter and an eighth of
  the image's side) are each projected by a fixed random 1x1 convolution to more channels, the
  deeper one is upsampled and mixed into the shallower through another fixed random 1x1
  convolution, and each scale gets its own small spectrally normalized D ending in one logit.

Its output is one row of logits per image: the pixel D's logit ``PIXEL_WEIGHT`` times over, then
one per feature scale. The trainer's loss treats every column as a score and averages them, so
the pixel D weighs as much as four projected ones. Only the pixel D and the small Ds learn; the
random projections are fixed (not trainable) but saved with D like every other weight.
"""

from __future__ import annotations

from kgan.backend import keras_module
from kgan.gan.catalog import PIXEL_WEIGHT, PROJECTED_TAPS
from kgan.gan.feature_network import build_lite1_trunk, load_lite1_weights

keras = keras_module()
layers = keras.layers

# The taps' typical activation sizes (root mean square over 128 of the bench's training icons,
# measured once), divided out so that every scale enters its projection at about unit size: without
# it D's logits started near +-30 and D won at once (D(x) 0.97).
TAP_SCALES = {3: 13.2, 6: 12.2, 14: 9.5, 20: 3.7}
# Channels each tap is projected to, shallowest first. The scale Ds grow with them and cost much of
# a step: twice these made half the steps in 8 minutes and drew 1.44 of the colour distance (147.6
# against 102.3; 64 px colour icons, AMX Xeon); half made 1.13 times the steps and drew level (0.99,
# patch distance 0.92; one pair each).
PROJECTED_CHANNELS = (64, 128, 256, 512)


def build_projected_discriminator(
    resolution: int, channels: int, width: int, pixel_discriminator: keras.Model, pretrained: bool = True
) -> keras.Model:
    """D of ``pixel_discriminator`` beside projected Ds on Lite1's features (ImageNet weights when ``pretrained``).

    Gray images (``channels`` 1) are repeated to three channels for the feature network.
    """
    if channels not in (1, 3):
        raise ValueError(f"a projected discriminator takes 1 or 3 channels (no label planes), not {channels}")
    image = keras.Input((resolution, resolution, channels), name="image")
    trunk = build_lite1_trunk(PROJECTED_TAPS)
    if pretrained:
        load_lite1_weights(trunk)
    colour = image if channels == 3 else layers.Concatenate(name="gray_to_rgb")([image] * 3)
    features = trunk(layers.Activation("linear", dtype="float32", name="to_float32")(colour))
    features = features if isinstance(features, (list, tuple)) else [features]
    projected = []
    for index, (tap, tensor) in enumerate(zip(PROJECTED_TAPS, features)):
        tensor = layers.Rescaling(1.0 / TAP_SCALES[tap], name=f"tap{tap}_scale")(tensor)
        projected.append(
            _fixed_projection(PROJECTED_CHANNELS[index], seed=10 + index, name=f"tap{tap}_projection")(tensor)
        )
    # Deepest to shallowest: each scale takes in the one below it, upsampled and projected.
    for index in range(len(projected) - 2, -1, -1):
        below = layers.UpSampling2D(2, name=f"tap{PROJECTED_TAPS[index + 1]}_up")(projected[index + 1])
        mixed = _fixed_projection(PROJECTED_CHANNELS[index], seed=20 + index, name=f"tap{PROJECTED_TAPS[index]}_mix")
        projected[index] = layers.Add(name=f"tap{PROJECTED_TAPS[index]}_mixed")([projected[index], mixed(below)])
    logits = [pixel_discriminator(image)] * PIXEL_WEIGHT
    for index, tensor in enumerate(projected):
        logits.append(_scale_discriminator(tensor, PROJECTED_CHANNELS[index], width, f"scale{index}"))
    scores = layers.Concatenate(dtype="float32", name="scores")(logits)
    return keras.Model(image, scores, name="discriminator")


def _fixed_projection(filters: int, seed: int, name: str) -> object:
    """A 1x1 convolution with He-normal random weights that never train."""
    initializer = keras.initializers.HeNormal(seed=seed)
    return layers.Conv2D(filters, 1, kernel_initializer=initializer, trainable=False, name=name)


def _scale_discriminator(tensor: object, channels: int, width: int, name: str) -> object:
    """Strided 4x4 convolutions (spectrally normalized, LeakyReLU) down to 4x4, then one logit."""
    side = int(tensor.shape[1])
    filters = max(channels, 4 * width)
    layer = 0
    while side > 4:
        filters = min(filters * 2, 32 * width)
        convolution = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"{name}_conv{layer}")
        tensor = layers.SpectralNormalization(convolution, name=f"{name}_spectral_conv{layer}")(tensor)
        tensor = layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu{layer}")(tensor)
        side //= 2
        layer += 1
    tensor = layers.Flatten(name=f"{name}_flatten")(tensor)
    logit = layers.Dense(1, dtype="float32", name=f"{name}_logit")
    return layers.SpectralNormalization(logit, dtype="float32", name=f"{name}_spectral_logit")(tensor)

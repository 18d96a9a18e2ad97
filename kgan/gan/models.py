"""The generator and discriminator builders, and the combined model.

Each builder returns a ``keras.Sequential``. Resolution, channels, latent size
and width are arguments; the resolution fixes how many times the generator
doubles its feature maps (see ``kgan.images.resolution``).

Two architectures:

* ``dcgan`` (Radford et al.): G projects the noise to a small square, then
  doubles it with transposed convolutions, batch norm and ReLU, ending in tanh;
  D halves the image with strided convolutions and LeakyReLU and ends in one
  logit.
* ``seed``: the seed video's Keras DCGAN. G = dense → dense + batch norm →
  reshape → (upsample → conv → tanh) twice; D = (conv → tanh → max-pool) twice
  → flatten → dense → dense with a sigmoid.

Every batch norm is ``FusedBatchNormalization``: Keras's layer, computed in one
fused kernel (see ``kgan.gan.batch_norm``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kgan.backend import keras_module
from kgan.gan.batch_norm import FusedBatchNormalization
from kgan.gan.catalog import ARCHITECTURES, D_FEATURES, D_NORMS, DISCRIMINATOR_OUTPUT, INITS
from kgan.gan.growing import GrowingOutput
from kgan.images.resolution import plan_resolution

keras = keras_module()
layers = keras.layers

__all__ = ["ARCHITECTURES", "DISCRIMINATOR_OUTPUT", "build_combined", "build_discriminator", "build_generator"]


def _require_plan(resolution: int) -> tuple[int, int]:
    plan = plan_resolution(resolution)
    if plan is None:
        raise ValueError(f"resolution {resolution} is not base * 2**k with a base of 4 to 7 and k >= 2")
    return plan


def _check_common(channels: int, width: int) -> None:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if width < 1:
        raise ValueError(f"width must be positive, not {width}")


def build_generator(
    resolution: int = 64,
    channels: int = 3,
    latent_dim: int = 100,
    width: int = 64,
    arch: str = "dcgan",
    synchronized_batch_norm: bool = False,
    init: str = "glorot",
    grow: bool = False,
) -> keras.Sequential:
    """Return a generator mapping (batch, latent_dim) noise to tanh images in [-1, 1].

    ``synchronized_batch_norm`` computes batch statistics over the global batch
    when training on several replicas, so that they match one device's.
    ``init`` is one of ``INITS``: what every kernel starts from.
    ``grow`` (dcgan only) ends G in a ``GrowingOutput`` (``kgan.gan.growing``): it draws at half
    size until grown.
    """
    _check_common(channels, width)
    kernels = _initializer(init)
    if grow and arch != "dcgan":
        raise ValueError(f"only the dcgan generator can grow, not {arch}")
    if arch == "dcgan":
        return _dcgan_generator(resolution, channels, latent_dim, width, synchronized_batch_norm, kernels, grow)
    if arch == "seed":
        return _seed_generator(resolution, channels, latent_dim, width, synchronized_batch_norm, kernels)
    if arch == "lean":
        return _lean_generator(resolution, channels, latent_dim, width, synchronized_batch_norm, kernels)
    raise ValueError(f"unknown architecture {arch!r}; use one of {', '.join(ARCHITECTURES)}")


def build_discriminator(
    resolution: int = 64,
    channels: int = 3,
    width: int = 64,
    arch: str = "dcgan",
    norm: str = "none",
    synchronized_batch_norm: bool = False,
    outputs: int = 1,
    init: str = "glorot",
    features: str = "none",
    pretrained: bool = True,
) -> keras.Model:
    """Return a discriminator mapping images in [-1, 1] to one score per image.

    ``channels`` counts every input channel (the image's, plus any label
    planes). ``outputs`` above 1 adds auxiliary outputs after the score (the
    InfoGAN head, sharing D's body). ``norm`` is one of ``D_NORMS``: "batch"
    adds batch normalization after each hidden convolution (the original DCGAN
    paper's D); "spectral" divides every weight matrix by its largest singular
    value (Keras's ``SpectralNormalization`` wrapper); "none" leaves D's layers plain.
    ``init`` is one of ``INITS``: what the convolutions' kernels start from (the dense layers keep Glorot).
    ``features`` is one of ``D_FEATURES``: "lite1" puts this D beside projected Ds that judge a
    frozen ImageNet network's features (``kgan.gan.projected``; its ImageNet weights are set
    when ``pretrained``), and D then gives ``score_columns("lite1")`` scores per image.
    """
    if channels < 1:
        raise ValueError(f"channels must be positive, not {channels}")
    if width < 1:
        raise ValueError(f"width must be positive, not {width}")
    if outputs != 1 and arch == "seed":
        raise ValueError("the seed architecture's discriminator has one sigmoid output")
    if norm not in D_NORMS:
        raise ValueError(f"unknown norm {norm!r}; use one of {', '.join(D_NORMS)}")
    if features not in D_FEATURES:
        raise ValueError(f"unknown features {features!r}; use one of {', '.join(D_FEATURES)}")
    kinds = _DLayers(norm, synchronized_batch_norm, _initializer(init))
    if features == "lite1":
        if arch not in ("dcgan", "lean") or outputs != 1:
            raise ValueError("a projected discriminator goes with --arch dcgan or lean and no auxiliary outputs")
        from kgan.gan.projected import build_projected_discriminator

        pixel = _dcgan_discriminator(resolution, channels, width, kinds, outputs, name="pixel_discriminator")
        return build_projected_discriminator(resolution, channels, width, pixel, pretrained)
    if arch in ("dcgan", "lean"):
        return _dcgan_discriminator(resolution, channels, width, kinds, outputs)
    if arch == "seed":
        return _seed_discriminator(resolution, channels, width, kinds)
    raise ValueError(f"unknown architecture {arch!r}; use one of {', '.join(ARCHITECTURES)}")


def build_combined(generator: keras.Model, discriminator: keras.Model) -> keras.Sequential:
    """Return ``Sequential([generator, discriminator])`` sharing both objects' weights.

    The discriminator is frozen in this model by the trainer, which updates only
    the generator's variables when training through it (see ``kgan.gan.step``).
    """
    return keras.Sequential([generator, discriminator], name="combined")


def _initializer(init: str) -> Callable[[], Any]:
    """A maker of Keras initializers for one of ``INITS``, called once per layer: an unseeded Keras
    initializer fixes its seed when made, so one shared by several layers starts each of their
    kernels with the same numbers."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; use one of {', '.join(INITS)}")
    if init == "dcgan":
        return lambda: keras.initializers.RandomNormal(stddev=0.02)
    return lambda: "glorot_uniform"


def _dcgan_generator(
    resolution: int, channels: int, latent_dim: int, width: int, sync: bool, init: Callable[[], Any], grow: bool
) -> keras.Sequential:
    base, doublings = _require_plan(resolution)
    # Feature maps halve at each doubling, ending at `width` before the image.
    # Upsampling by transposed convolution: on a 2-core AVX-512 BF16 CPU in bfloat16, the 64 px
    # default's four upsamplings (batch 32, forward and backward) took 27.6 ms this way, against 39.5 ms
    # as a 3x3 convolution then depth-to-space and 51.4 ms as the same arithmetic in 2x2 phases.
    filters = [width * 2 ** (doublings - 1 - i) for i in range(doublings)]
    model = keras.Sequential(name="generator")
    model.add(keras.Input(shape=(latent_dim,), name="noise"))
    # Batch norm after every layer but the last. In its place, at 64 px (colour, 8 minutes, on an
    # AMX Xeon), per-pixel normalisation with biases drew 1.08 and 1.22 of it in two A B pairs and
    # group norm (8 groups) 1.09 and 1.05 in two; their grids had grey checkered patches and
    # broken strokes. Spectral norm around G's layers as well drew 1.50 (saturated primaries). In
    # ReLU's place, SiLU drew 1.04, LeakyReLU 1.08, and gated linear units (twice the channels,
    # half gated by the other's sigmoid) 1.07 and 1.11 at 0.63x the steps, 1.06 with G width 16.
    # Self-modulated norms (no scale and shift of their own: a network of the noise, 32 hidden
    # units, gives each image its own) drew 0.95, 1.01, 0.89 and 1.06 in four A B pairs (mean
    # 0.98) at 0.88x the steps, and modulating only the first two 0.97 in one: level, not worth
    # a functional G and a custom layer in every saved file. Skip-layer excitation (FastGAN: the 4x4
    # and 8x8 maps each gate the 32x32 map's channels through a pooled 4x4 convolution and a sigmoid)
    # drew 1.05 and 0.99 of the default's colour distance with the projected D (8 minutes, AVX-512
    # BF16 EPYC, two A B pairs), 1.25 and 1.41 of its patch distance and 1.12 and 0.90 by the
    # identity net, at 0.96x the steps: level to worse, as with the pixel D before it.
    # Starting every transposed convolution as nearest upsampling then a 3x3 convolution (Aitken et
    # al.'s checkerboard-free start) drew 1.02 and 0.93 (two A B pairs, mean 0.97), its grids hatched
    # again by 8 minutes (bench/README.md, session 59).
    model.add(layers.Dense(base * base * filters[0], use_bias=False, kernel_initializer=init()))
    model.add(FusedBatchNormalization(synchronized=sync))
    model.add(layers.ReLU())
    model.add(layers.Reshape((base, base, filters[0])))
    # A growing G's last doubling and its picture are one layer (the same filters, and a half-size picture).
    for count in filters[1:-1] if grow else filters[1:]:
        model.add(
            layers.Conv2DTranspose(count, 4, strides=2, padding="same", use_bias=False, kernel_initializer=init())
        )
        model.add(FusedBatchNormalization(synchronized=sync))
        model.add(layers.ReLU())
    if grow:
        model.add(GrowingOutput(filters[-1], channels, kernel_initializer=init(), synchronized=sync))
    else:
        model.add(layers.Conv2DTranspose(channels, 4, strides=2, padding="same", kernel_initializer=init()))
    model.add(layers.Activation("tanh", dtype="float32", name="image"))
    return model


def lean_widths(resolution: int, width: int) -> list[int]:
    """G's feature maps from the smallest square to the image's size: doubling towards the
    small end from ``width`` at full size, capped at 8 * width, so large images stay cheap."""
    _, doublings = _require_plan(resolution)
    return [min(8 * width, width * 2 ** (doublings - level)) for level in range(doublings + 1)]


def _lean_generator(
    resolution: int, channels: int, latent_dim: int, width: int, sync: bool, init: Callable[[], Any]
) -> keras.Sequential:
    base, _ = _require_plan(resolution)
    widths = lean_widths(resolution, width)
    model = keras.Sequential(name="generator")
    model.add(keras.Input(shape=(latent_dim,), name="noise"))
    model.add(layers.Dense(base * base * widths[0], use_bias=False, kernel_initializer=init()))
    model.add(FusedBatchNormalization(synchronized=sync))
    model.add(layers.ReLU())
    model.add(layers.Reshape((base, base, widths[0])))
    # Resize, then convolve: no checkerboard, and every output pixel sees the same kernel.
    for count in widths[1:]:
        model.add(layers.UpSampling2D(2, interpolation="nearest"))
        model.add(layers.Conv2D(count, 3, padding="same", use_bias=False, kernel_initializer=init()))
        model.add(FusedBatchNormalization(synchronized=sync))
        model.add(layers.ReLU())
    model.add(layers.Conv2D(channels, 3, padding="same", kernel_initializer=init()))
    model.add(layers.Activation("tanh", dtype="float32", name="image"))
    return model


class _DLayers:
    """D's weighted layers, and the batch norm after them, as its ``norm`` makes them.

    Spectral normalization is Keras's own wrapper: in each training call it
    estimates the kernel's largest singular value with one step of power
    iteration and divides the kernel by it in place, so every D step starts
    from weights that stretch their input by a factor of about one. kgan's
    G step runs D statelessly and throws its new state away, so D stays put there.
    """

    def __init__(self, norm: str, synchronized: bool, conv_init: Callable[[], Any]):
        self.spectral = norm == "spectral"
        self.batch_norm = norm == "batch"
        self.synchronized = synchronized
        self.conv_init = conv_init

    def conv(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped(layers.Conv2D(*args, kernel_initializer=self.conv_init(), **kwargs))

    def dense(self, *args: Any, **kwargs: Any) -> Any:
        return self._wrapped(layers.Dense(*args, **kwargs))

    def _wrapped(self, layer: Any) -> Any:
        if not self.spectral:
            return layer
        # The wrapper casts its output to its input's dtype: a float32 layer keeps a float32 wrapper.
        return layers.SpectralNormalization(layer, dtype=layer.dtype_policy, name=f"spectral_{layer.name}")

    def norm_after(self, model: keras.Sequential) -> None:
        if self.batch_norm:
            model.add(FusedBatchNormalization(synchronized=self.synchronized))


def _dcgan_discriminator(
    resolution: int, channels: int, width: int, kinds: _DLayers, outputs: int, name: str = "discriminator"
) -> keras.Sequential:
    _, doublings = _require_plan(resolution)
    model = keras.Sequential(name=name)
    model.add(keras.Input(shape=(resolution, resolution, channels), name="image"))
    # A 3x3 stride-1 convolution at full size before these drew level at 64 px (colour, 8 minutes,
    # one A B pair on an AMX Xeon: 132.7 in 4,179 steps against 131.6 in 5,466). One more 3x3
    # convolution after the last of them (at 4x4) drew 1.04 of the default at 0.88x the steps, and
    # after each of the last two 1.09 at 0.82x: a deeper D is not what the default lacks.
    for i in range(doublings):
        # The first convolution has no norm after it; a batch norm's shift replaces the others' bias.
        model.add(kinds.conv(width * 2**i, 4, strides=2, padding="same", use_bias=not (kinds.batch_norm and i)))
        if i:
            kinds.norm_after(model)
        model.add(layers.LeakyReLU(negative_slope=0.2))
    # Flatten, then one dense logit. Against this at 64 px (colour, 8 minutes, AMX Xeon), global
    # average pooling before the logit drew 1.04 and 1.16, and one logit per 4x4 patch (a 1x1
    # convolution, each patch scored by the loss) 1.08, 0.97 and 1.13. Four more outputs telling
    # which way a real image was turned (self-supervised rotation, weight 1 in D's loss) drew 1.38.
    # A minibatch standard deviation channel before the flatten (groups of 4, StyleGAN's), with the
    # projected D: here only, 1.00, 1.54 and 1.05 of the default's colour, patch and identity-net
    # distances; here and before each scale D's flatten, 1.01, 1.26 and 0.92 (8 minutes, 64 px
    # colour icons, AVX-512 BF16 EPYC, one A B pair each). Both grids still repeat one motif in about
    # an eighth of their cells, as the default's do.
    model.add(layers.Flatten())
    model.add(kinds.dense(outputs, dtype="float32", name="logit"))
    return model


def _seed_sizes(resolution: int, width: int) -> tuple[int, int, int, int]:
    if resolution % 4:
        raise ValueError(f"the seed architecture needs a resolution divisible by 4, not {resolution}")
    # The seed's widths are 64 and 128 filters and 1024 dense units; `width` scales them.
    return resolution // 4, width, 2 * width, 16 * width


def _seed_generator(
    resolution: int, channels: int, latent_dim: int, width: int, sync: bool, init: Callable[[], Any]
) -> keras.Sequential:
    quarter, narrow, wide, dense_units = _seed_sizes(resolution, width)
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,), name="noise"),
            layers.Dense(dense_units, activation="tanh", kernel_initializer=init()),
            layers.Dense(wide * quarter * quarter, kernel_initializer=init()),
            FusedBatchNormalization(synchronized=sync),
            layers.Activation("tanh"),
            layers.Reshape((quarter, quarter, wide)),
            layers.UpSampling2D(2),
            layers.Conv2D(narrow, 5, padding="same", activation="tanh", kernel_initializer=init()),
            layers.UpSampling2D(2),
            layers.Conv2D(channels, 5, padding="same", kernel_initializer=init()),
            layers.Activation("tanh", dtype="float32", name="image"),
        ],
        name="generator",
    )


def _seed_discriminator(resolution: int, channels: int, width: int, kinds: _DLayers) -> keras.Sequential:
    _, narrow, wide, dense_units = _seed_sizes(resolution, width)
    model = keras.Sequential(name="discriminator")
    model.add(keras.Input(shape=(resolution, resolution, channels), name="image"))
    # As in the seed's code: the first convolution keeps the size, the second trims its border.
    for filters, padding in ((narrow, "same"), (wide, "valid")):
        model.add(kinds.conv(filters, 5, padding=padding))
        kinds.norm_after(model)
        model.add(layers.Activation("tanh"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    model.add(kinds.dense(dense_units, activation="tanh"))
    model.add(kinds.dense(1, activation="sigmoid", dtype="float32", name="probability"))
    return model

"""The builders: Sequential models whose sizes are arguments."""

import numpy as np
import pytest

from kgan.backend import keras_module
from kgan.gan.models import build_combined, build_discriminator, build_generator

keras = keras_module()


@pytest.mark.parametrize("arch", ["dcgan", "lean", "seed"])
@pytest.mark.parametrize("resolution", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_builders_make_the_requested_image_size(arch, resolution, channels):
    generator = build_generator(resolution, channels, latent_dim=12, width=4, arch=arch)
    discriminator = build_discriminator(resolution, channels, width=4, arch=arch)
    assert isinstance(generator, keras.Sequential) and isinstance(discriminator, keras.Sequential)
    images = generator(np.random.default_rng(0).standard_normal((2, 12)).astype("float32"), training=False)
    assert tuple(images.shape) == (2, resolution, resolution, channels)
    assert float(keras.ops.max(keras.ops.abs(images))) <= 1.0
    scores = discriminator(images, training=False)
    assert tuple(scores.shape) == (2, 1)


def test_init_dcgan_draws_every_g_kernel_and_d_convolution_from_n_0_002_and_glorot_does_not():
    def spreads(kernels):
        return [float(np.std(keras.ops.convert_to_numpy(kernel))) for kernel in kernels]

    def generator_kernels(arch, init):
        generator = build_generator(64, 3, latent_dim=100, width=8, arch=arch, init=init)
        return spreads(layer.kernel for layer in generator.layers if hasattr(layer, "kernel"))

    def discriminator_convolutions(norm, init):
        discriminator = build_discriminator(64, 3, width=8, norm=norm, init=init)
        # Spectral normalization wraps each convolution; the logit layer keeps Glorot.
        convolutions = [getattr(layer, "layer", layer) for layer in discriminator.layers if "conv" in layer.name]
        return spreads(convolution.kernel for convolution in convolutions)

    for arch in ("dcgan", "lean"):
        assert all(abs(spread - 0.02) < 0.002 for spread in generator_kernels(arch, "dcgan"))
        # Glorot uniform: the spread depends on the layer's size and is far from 0.02.
        assert all(spread > 0.03 for spread in generator_kernels(arch, "glorot"))
    for norm in ("spectral", "batch", "none"):
        kernels = discriminator_convolutions(norm, "dcgan")
        assert len(kernels) == 4 and all(abs(spread - 0.02) < 0.002 for spread in kernels)
        assert all(spread > 0.03 for spread in discriminator_convolutions(norm, "glorot"))
    with pytest.raises(ValueError, match="unknown init 'he'"):
        build_generator(64, 3, init="he")


@pytest.mark.parametrize("init", ("dcgan", "glorot"))
def test_every_layer_draws_its_own_starting_kernel(init):
    # An unseeded Keras initializer shared by several layers would start each with the same numbers.
    generator = build_generator(64, 3, latent_dim=100, width=8, init=init)
    discriminator = build_discriminator(64, 3, width=8, norm="spectral", init=init)
    layers = [*generator.layers, *(getattr(layer, "layer", layer) for layer in discriminator.layers)]
    starts = [keras.ops.convert_to_numpy(layer.kernel).ravel()[:16] for layer in layers if hasattr(layer, "kernel")]
    assert len(starts) == 10  # G: a dense layer and four transposed convolutions; D: four convolutions and the logit
    assert all(not np.allclose(a, b) for i, a in enumerate(starts) for b in starts[i + 1 :])


def test_width_and_latent_size_are_arguments_not_constants():
    narrow = build_generator(32, 1, latent_dim=10, width=8)
    wide = build_generator(32, 1, latent_dim=20, width=16)
    assert narrow.input_shape == (None, 10) and wide.input_shape == (None, 20)
    assert wide.count_params() > narrow.count_params()
    assert build_discriminator(32, 1, width=16).count_params() > build_discriminator(32, 1, width=8).count_params()


def test_dcgan_uses_batch_norm_in_g_and_leaky_relu_without_batch_norm_in_d():
    generator_layers = [type(layer).__name__ for layer in build_generator(32, 3, 16, 8).layers]
    discriminator_layers = [type(layer).__name__ for layer in build_discriminator(32, 3, 8).layers]
    assert "BatchNormalization" in generator_layers and "Conv2DTranspose" in generator_layers
    assert "LeakyReLU" in discriminator_layers and "BatchNormalization" not in discriminator_layers
    assert discriminator_layers.count("Conv2D") == 3  # 32 = 4 * 2**3: three halvings


def test_seed_architecture_follows_the_seed_video():
    generator_layers = [type(layer).__name__ for layer in build_generator(28, 1, 100, 64, "seed").layers]
    assert generator_layers[:2] == ["Dense", "Dense"] and "BatchNormalization" in generator_layers
    assert generator_layers.count("UpSampling2D") == 2 and generator_layers.count("Conv2D") == 2
    discriminator = build_discriminator(28, 1, 64, "seed")
    discriminator_layers = [type(layer).__name__ for layer in discriminator.layers]
    assert discriminator_layers.count("MaxPooling2D") == 2 and discriminator_layers.count("Conv2D") == 2
    assert discriminator.layers[-1].activation.__name__ == "sigmoid"


def test_combined_model_reuses_the_same_generator_and_discriminator():
    generator, discriminator = build_generator(16, 1, 8, 4), build_discriminator(16, 1, 4)
    combined = build_combined(generator, discriminator)
    assert isinstance(combined, keras.Sequential)
    assert combined.layers[0] is generator and combined.layers[1] is discriminator
    assert len(combined.weights) == len(generator.weights) + len(discriminator.weights)


@pytest.mark.parametrize("resolution", [30, 8, 2048])
def test_unsupported_resolutions_are_refused(resolution):
    with pytest.raises(ValueError, match="resolution"):
        build_generator(resolution, 1)


def test_lean_generator_resizes_then_convolves_with_widths_that_shrink_as_the_image_grows():
    from kgan.gan.models import lean_widths

    names = [type(layer).__name__ for layer in build_generator(64, 3, 100, 32, "lean").layers]
    assert "Conv2DTranspose" not in names and names.count("UpSampling2D") == 4
    assert lean_widths(64, 32) == [256, 256, 128, 64, 32]


def test_spectral_norm_puts_every_weight_of_d_at_unit_largest_singular_value():
    discriminator = build_discriminator(16, 3, 4, norm="spectral")
    wrapped = [layer for layer in discriminator.layers if type(layer).__name__ == "SpectralNormalization"]
    inner = [type(layer.layer).__name__ for layer in wrapped]
    assert inner == ["Conv2D", "Conv2D", "Dense"] and wrapped[-1].dtype_policy.name == "float32"
    assert not any(type(layer).__name__ == "BatchNormalization" for layer in discriminator.layers)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 16, 16, 3)).astype("float32")
    kernels = [layer.layer.kernel.numpy().copy() for layer in wrapped]
    discriminator(images, training=False)  # inference leaves the weights alone
    assert all(np.array_equal(old, layer.layer.kernel.numpy()) for old, layer in zip(kernels, wrapped))
    assert max(_largest_singular_value(kernel) for kernel in kernels) > 1.2
    for _ in range(30):  # power iteration: one step per training call
        discriminator(images, training=True)
    for layer in wrapped:
        assert _largest_singular_value(layer.layer.kernel.numpy()) == pytest.approx(1, abs=0.02)


def _largest_singular_value(kernel: np.ndarray) -> float:
    return float(np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0])

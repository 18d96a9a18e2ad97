"""The builders: Sequential models whose sizes are arguments."""

import numpy as np
import pytest

from kgan.backend import keras_module
from kgan.gan.models import build_combined, build_discriminator, build_generator

keras = keras_module()


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


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
    discriminator = build_discriminator(32, 3, 8)
    discriminator_layers = [type(layer).__name__ for layer in discriminator.layers]
    assert "FusedBatchNormalization" in generator_layers and "Conv2DTranspose" in generator_layers
    assert "LeakyReLU" in discriminator_layers and not _batch_norms(discriminator)
    assert discriminator_layers.count("Conv2D") == 3  # 32 = 4 * 2**3: three halvings


def test_seed_architecture_follows_the_seed_video():
    generator_layers = [type(layer).__name__ for layer in build_generator(28, 1, 100, 64, "seed").layers]
    assert generator_layers[:2] == ["Dense", "Dense"] and "FusedBatchNormalization" in generator_layers
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
    assert not _batch_norms(discriminator)
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


def test_every_batch_norm_of_g_and_of_a_batch_normalized_d_is_the_fused_layer():
    from kgan.gan.batch_norm import FusedBatchNormalization

    for arch in ("dcgan", "lean", "seed"):
        norms = _batch_norms(build_generator(28, 1, 8, 4, arch))
        assert norms and all(type(norm) is FusedBatchNormalization for norm in norms)
    norms = _batch_norms(build_discriminator(32, 3, 4, norm="batch"))
    assert len(norms) == 2 and all(type(norm) is FusedBatchNormalization for norm in norms)


def _twin_norms(shape):
    """Keras's batch norm and the fused one for inputs of ``shape``, with the same (not initial) weights."""
    from kgan.gan.batch_norm import FusedBatchNormalization

    channels = shape[-1]
    rng = np.random.default_rng(3)
    weights = [rng.uniform(0.5, 1.5, channels), rng.normal(size=channels), np.zeros(channels), np.ones(channels)]
    twins = keras.layers.BatchNormalization(momentum=0.8), FusedBatchNormalization(momentum=0.8)
    for norm in twins:
        norm.build((None, *shape[1:]))
        norm.set_weights([w.astype("float32") for w in weights])
    return twins


def _outputs_and_gradients(norm, inputs, training):
    import tensorflow as tf

    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = norm(inputs, training=training)
        loss = tf.reduce_sum(tf.cast(outputs, "float32") ** 3)
    gradients = tape.gradient(loss, [inputs, *norm.trainable_variables])
    return [np.asarray(value, "float32") for value in (outputs, *gradients)]


@pytest.mark.parametrize("shape", [(6, 5), (4, 3, 3, 5)])
def test_fused_batch_norm_computes_what_keras_batch_norm_does(shape):
    keras_norm, fused_norm = _twin_norms(shape)
    rng = np.random.default_rng(4)
    for training in (True, True, False):
        inputs = rng.normal(2.0, 3.0, shape).astype("float32")
        expected = _outputs_and_gradients(keras_norm, inputs, training)
        actual = _outputs_and_gradients(fused_norm, inputs, training)
        for want, got in zip(expected, actual):  # outputs, then gradients of inputs, scale and offset
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
        for want, got in zip(keras_norm.non_trainable_weights, fused_norm.non_trainable_weights):
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    assert abs(float(fused_norm.moving_mean.numpy().mean())) > 0.5  # the statistics did move


def test_a_frozen_fused_batch_norm_normalizes_with_its_moving_statistics_and_keeps_them():
    keras_norm, fused_norm = _twin_norms((4, 3, 3, 5))
    inputs = np.random.default_rng(5).normal(2.0, 3.0, (4, 3, 3, 5)).astype("float32")
    for norm in (keras_norm, fused_norm):
        norm(inputs, training=True)
        norm.trainable = False
    before = [weight.numpy().copy() for weight in fused_norm.weights]
    expected, actual = keras_norm(inputs, training=True), fused_norm(inputs, training=True)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-4, atol=1e-4)
    assert all(np.array_equal(old, weight.numpy()) for old, weight in zip(before, fused_norm.weights))


def test_fused_batch_norm_in_bfloat16_stays_within_bfloat16s_precision_of_keras():
    from kgan.backend import precision_scope

    with precision_scope("bfloat16"):
        keras_norm, fused_norm = _twin_norms((8, 4, 4, 8))
    inputs = np.random.default_rng(6).normal(2.0, 3.0, (8, 4, 4, 8)).astype("float32")
    expected, actual = keras_norm(inputs, training=True), fused_norm(inputs, training=True)
    assert actual.dtype == expected.dtype == "bfloat16"
    np.testing.assert_allclose(np.asarray(actual, "float32"), np.asarray(expected, "float32"), atol=0.05)


def test_a_saved_generator_with_fused_batch_norms_loads_back_and_draws_the_same(tmp_path):
    from kgan.errors import RunError
    from kgan.model_files import load_keras_file

    generator = build_generator(32, 3, 8, 4)
    noise = np.random.default_rng(7).normal(size=(3, 8)).astype("float32")
    generator(noise, training=True)  # moves the moving statistics off their start
    generator.save(tmp_path / "generator.keras")
    loaded = load_keras_file(tmp_path / "generator.keras", RunError, flag="")
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in generator.layers]
    np.testing.assert_allclose(loaded(noise, training=False), generator(noise, training=False), atol=1e-6)

"""What each step trains on: full batches across epochs, repeatable, prepared ahead."""

import numpy as np
import pytest

from kgan.batches import BatchOrder, Prefetcher, make_batch, step_noise


def test_every_image_appears_once_per_epoch_and_batches_stay_full():
    order = BatchOrder(count=10, batch_size=4, seed=1)
    seen = np.concatenate([order.indices(images_seen) for images_seen in range(0, 20, 4)])
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert all(len(order.indices(n)) == 4 for n in range(0, 40, 4))


def test_a_folder_smaller_than_a_batch_still_fills_it():
    order = BatchOrder(count=3, batch_size=8, seed=0)
    assert len(order.indices(0)) == 8 and set(order.indices(0)) == {0, 1, 2}


def test_batches_and_noise_depend_only_on_seed_and_step():
    images = np.arange(10 * 2 * 2 * 1, dtype=np.uint8).reshape(10, 2, 2, 1)
    first = make_batch(images, BatchOrder(10, 4, 7), seed=7, step=3, latent_dim=5)
    again = make_batch(images, BatchOrder(10, 4, 7), seed=7, step=3, latent_dim=5)
    other = make_batch(images, BatchOrder(10, 4, 8), seed=8, step=3, latent_dim=5)
    np.testing.assert_array_equal(first.real_images, again.real_images)
    np.testing.assert_array_equal(first.generator_noise, again.generator_noise)
    assert not np.array_equal(first.discriminator_noise, other.discriminator_noise)
    noise_d, noise_g = step_noise(7, 3, 4, 5)
    assert not np.array_equal(noise_d, noise_g)


def test_the_prefetcher_hands_out_the_same_batches_in_step_order():
    images = np.random.default_rng(0).integers(0, 256, (12, 4, 4, 1), dtype=np.uint8)
    order = BatchOrder(12, 4, 3)
    with Prefetcher(images, BatchOrder(12, 4, 3), seed=3, first_step=5, latent_dim=2) as prefetcher:
        for step in range(5, 15):
            expected = make_batch(images, order, 3, step, 2)
            batch = prefetcher.get(step)
            np.testing.assert_array_equal(batch.real_images, expected.real_images)
            np.testing.assert_array_equal(batch.discriminator_noise, expected.discriminator_noise)


def test_an_error_while_preparing_reaches_the_training_thread():
    class Broken(np.ndarray):
        def __getitem__(self, item):
            raise OSError("the disk went away")

    images = np.zeros((4, 2, 2, 1), dtype=np.uint8).view(Broken)
    with Prefetcher(images, BatchOrder(4, 2, 0), seed=0, first_step=0, latent_dim=2) as prefetcher:
        with pytest.raises(OSError, match="disk went away"):
            prefetcher.get(0)

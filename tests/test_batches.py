"""What each step trains on: full batches across epochs, repeatable, prepared ahead."""

import numpy as np
import pytest

from kgan.gan.batches import BatchOrder, BatchPlan, Prefetcher, make_batch
from kgan.gan.conditions import ClassCondition, InfoCodes


def test_every_image_appears_once_per_epoch_and_batches_stay_full():
    order = BatchOrder(count=10, batch_size=4, seed=1)
    seen = np.concatenate([order.indices(images_seen) for images_seen in range(0, 20, 4)])
    assert sorted(seen[:10]) == list(range(10)) and sorted(seen[10:20]) == list(range(10))
    assert all(len(order.indices(n)) == 4 for n in range(0, 40, 4))


def test_a_folder_smaller_than_a_batch_still_fills_it():
    order = BatchOrder(count=3, batch_size=8, seed=0)
    assert len(order.indices(0)) == 8 and set(order.indices(0)) == {0, 1, 2}


def _images(count=10):
    return np.arange(count * 2 * 2 * 1, dtype=np.uint8).reshape(count, 2, 2, 1)


def test_batches_and_noise_depend_only_on_seed_and_step():
    images, labels = _images(), np.zeros(10, dtype=np.int64)
    plan = BatchPlan(batch_size=4, latent_dim=5, seed=7)
    first = make_batch(images, labels, BatchOrder(10, 4, 7), plan, step=3)
    again = make_batch(images, labels, BatchOrder(10, 4, 7), plan, step=3)
    other_plan = BatchPlan(batch_size=4, latent_dim=5, seed=8)
    other = make_batch(images, labels, BatchOrder(10, 4, 8), other_plan, step=3)
    np.testing.assert_array_equal(first.real_images, again.real_images)
    np.testing.assert_array_equal(first.generator_noise, again.generator_noise)
    assert not np.array_equal(first.critic_noise, other.critic_noise)
    assert first.real_images.shape == (4, 1, 2, 2, 1) and first.critic_noise.shape == (4, 1, 5)
    assert not np.array_equal(first.critic_noise[:, 0], first.generator_noise)


def test_critic_steps_take_consecutive_blocks_of_images():
    images, labels = _images(12), np.zeros(12, dtype=np.int64)
    plan = BatchPlan(batch_size=2, latent_dim=3, seed=1, critic_steps=3)
    order = BatchOrder(12, plan.images_per_step, 1)
    batch = make_batch(images, labels, order, plan, step=0)
    assert batch.real_images.shape == (2, 3, 2, 2, 1) and batch.critic_mix.shape == (2, 3)
    expected = images[order.indices(0)].reshape(3, 2, 2, 2, 1)
    np.testing.assert_array_equal(batch.real_images[:, 1], expected[1])


def test_class_labels_route_to_real_codes_and_fake_codes():
    images = _images(6)
    labels = np.array([0, 1, 2, 0, 1, 2])
    plan = BatchPlan(batch_size=3, latent_dim=2, seed=0, condition=ClassCondition(("a", "b", "c")))
    order = BatchOrder(6, 3, 0)
    batch = make_batch(images, labels, order, plan, step=0)
    expected = np.eye(3)[labels[order.indices(0)]]
    np.testing.assert_array_equal(batch.real_codes[:, 0], expected)
    np.testing.assert_array_equal(batch.critic_codes[:, 0], expected)  # fakes take the real labels
    assert batch.generator_codes.shape == (3, 3) and set(batch.generator_codes.sum(axis=1)) == {1.0}


def test_info_codes_are_one_hot_plus_uniform_continuous():
    plan = BatchPlan(batch_size=64, latent_dim=2, seed=0, condition=InfoCodes(categories=4, continuous=2))
    batch = make_batch(_images(64), np.zeros(64, dtype=np.int64), BatchOrder(64, 64, 0), plan, step=0)
    codes = batch.generator_codes
    assert codes.shape == (64, 6)
    assert set(codes[:, :4].sum(axis=1)) == {1.0} and len(set(codes[:, :4].argmax(axis=1))) == 4
    assert codes[:, 4:].min() >= -1 and codes[:, 4:].max() <= 1


def test_augmentation_parameters_only_when_augmenting():
    images, labels = _images(), np.zeros(10, dtype=np.int64)
    plain = make_batch(images, labels, BatchOrder(10, 4, 0), BatchPlan(4, 2, 0), 0)
    augmented = make_batch(images, labels, BatchOrder(10, 4, 0), BatchPlan(4, 2, 0, augment=True), 0)
    assert plain.critic_augment.shape == (4, 1, 2, 0) and augmented.critic_augment.shape == (4, 1, 2, 7)
    assert augmented.generator_augment.shape == (4, 7)


def test_mirroring_flips_about_half_the_real_images_and_changes_nothing_else():
    images = np.random.default_rng(0).integers(0, 256, (64, 3, 5, 3), dtype=np.uint8)
    labels, order = np.zeros(64, dtype=np.int64), BatchOrder(64, 64, 2)
    plain = make_batch(images, labels, order, BatchPlan(32, 4, 2, critic_steps=2), 5)
    mirrored = make_batch(images, labels, order, BatchPlan(32, 4, 2, critic_steps=2, mirror=True), 5)
    again = make_batch(images, labels, order, BatchPlan(32, 4, 2, critic_steps=2, mirror=True), 5)
    same = np.all(mirrored.real_images == plain.real_images, axis=(2, 3, 4))
    flipped = np.all(mirrored.real_images == plain.real_images[:, :, :, ::-1], axis=(2, 3, 4))
    assert np.all(same ^ flipped) and 16 <= flipped.sum() <= 48  # each image as it is or mirrored, never both
    np.testing.assert_array_equal(mirrored.real_images, again.real_images)
    for name in ("critic_noise", "critic_augment", "critic_mix", "generator_noise"):
        np.testing.assert_array_equal(getattr(mirrored, name), getattr(plain, name))
    other_step = make_batch(images, labels, order, BatchPlan(32, 4, 2, critic_steps=2, mirror=True), 6)
    other_plain = make_batch(images, labels, order, BatchPlan(32, 4, 2, critic_steps=2), 6)
    other_flipped = np.any(other_step.real_images != other_plain.real_images, axis=(2, 3, 4))
    assert not np.array_equal(flipped, other_flipped)


def test_the_prefetcher_hands_out_the_same_batches_in_step_order():
    images = np.random.default_rng(0).integers(0, 256, (12, 4, 4, 1), dtype=np.uint8)
    labels = np.zeros(12, dtype=np.int64)
    plan = BatchPlan(batch_size=4, latent_dim=2, seed=3)
    with Prefetcher(images, labels, plan, first_step=5) as prefetcher:
        for step in range(5, 15):
            expected = make_batch(images, labels, BatchOrder(12, 4, 3), plan, step)
            batch = prefetcher.get(step)
            np.testing.assert_array_equal(batch.real_images, expected.real_images)
            np.testing.assert_array_equal(batch.critic_noise, expected.critic_noise)


def test_an_error_while_preparing_reaches_the_training_thread():
    class Broken(np.ndarray):
        def __getitem__(self, item):
            raise OSError("the disk went away")

    images = np.zeros((4, 2, 2, 1), dtype=np.uint8).view(Broken)
    with Prefetcher(images, np.zeros(4, dtype=np.int64), BatchPlan(2, 2, 0), first_step=0) as prefetcher:
        with pytest.raises(OSError, match="disk went away"):
            prefetcher.get(0)

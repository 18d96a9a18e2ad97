"""A yardstick with no trained network in it: how far generated pictures' small patches are from real ones'.

The sliced Wasserstein distance between 7x7 patches of a Laplacian pyramid (Karras et al. 2018,
"Progressive growing of GANs", section 5): each picture is split into band-pass levels (full size
less its blurred half, the half less its quarter, ..., and the smallest blur), 64 patches are cut
from each level of each picture at fixed random places, every patch coordinate is standardised by
the real patches' mean and deviation at that level, and the patch sets are compared along 512
random directions (four draws), as the mean gap between their sorted projections, times 1,000.
One number per level (finest first) and their mean; lower is better.

Why it is here: the colour yardstick's features come from an ImageNet-trained network, and a
generator trained against another ImageNet network's features (a projected discriminator) can
move that distance by matching features rather than by drawing better pictures. This measure sees
only pixels: it catches stripes, checkerboards and wrong colour statistics, and knows nothing of
objects, so a change should move both yardsticks the same way before it is believed.

Score sample folders after the fact (real pictures: the held-back icons, or a folder given):

    refenv/bin/python bench/patch_distance.py SAMPLES_DIR [SAMPLES_DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PATCH = 7
PATCHES_PER_PICTURE = 64
DIRECTIONS = 512
DRAWS = 4
SMALLEST_LEVEL = 16  # pixels: levels stop before the blur gets smaller than this


def pyramid(pictures: np.ndarray) -> list[np.ndarray]:
    """Band-pass levels of N x H x W x C float pictures, finest first, ending with the last blur."""
    levels = []
    current = pictures
    while current.shape[1] // 2 >= SMALLEST_LEVEL and current.shape[1] % 2 == 0:
        half = 0.25 * (current[:, ::2, ::2] + current[:, 1::2, ::2] + current[:, ::2, 1::2] + current[:, 1::2, 1::2])
        levels.append(current - half.repeat(2, axis=1).repeat(2, axis=2))
        current = half
    levels.append(current)
    return levels


def cut_patches(level: np.ndarray, seed: int) -> np.ndarray:
    """PATCHES_PER_PICTURE 7x7 patches of each picture at places drawn from seed, flattened to rows."""
    count, height, width, _ = level.shape
    rng = np.random.default_rng(seed)
    tops = rng.integers(0, height - PATCH + 1, (count, PATCHES_PER_PICTURE))
    lefts = rng.integers(0, width - PATCH + 1, (count, PATCHES_PER_PICTURE))
    windows = np.lib.stride_tricks.sliding_window_view(level, (PATCH, PATCH), axis=(1, 2))
    patches = windows[np.arange(count)[:, None], tops, lefts]  # count x patches x C x 7 x 7
    return patches.reshape(count * PATCHES_PER_PICTURE, -1).astype(np.float32)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, seed: int) -> float:
    """Mean gap between the sorted projections of two equal-size row sets on random unit directions."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(DRAWS):
        directions = rng.standard_normal((a.shape[1], DIRECTIONS)).astype(np.float32)
        directions /= np.linalg.norm(directions, axis=0, keepdims=True)
        total += float(np.abs(np.sort(a @ directions, axis=0) - np.sort(b @ directions, axis=0)).mean())
    return total / DRAWS


def as_unit_range(pictures: np.ndarray) -> np.ndarray:
    """N x H x W (x C) uint8 to N x H x W x C float32 in [-1, 1]."""
    pictures = pictures.astype(np.float32) / 127.5 - 1.0
    return pictures[..., None] if pictures.ndim == 3 else pictures


class PatchDistance:
    """Real pictures' patches per pyramid level, standardised; ``distance`` compares other pictures with them."""

    def __init__(self, real_pictures: np.ndarray):
        real_levels = pyramid(as_unit_range(real_pictures))
        levels = [cut_patches(level, seed=1 + index) for index, level in enumerate(real_levels)]
        self.scales = [(patches.mean(axis=0), patches.std(axis=0) + 1e-6) for patches in levels]
        self.real_levels = [(patches - mean) / deviation for patches, (mean, deviation) in zip(levels, self.scales)]

    def levels(self, pictures: np.ndarray) -> list[float]:
        """The distance at each level, finest first (x 1,000)."""
        distances = []
        for index, level in enumerate(pyramid(as_unit_range(pictures))):
            patches = cut_patches(level, seed=101 + index)
            mean, deviation = self.scales[index]
            real = self.real_levels[index]
            # Equal counts: as many generated patches as real ones (a fixed draw), or all of them.
            chosen = np.random.default_rng(7).permutation(len(patches))[: len(real)]
            patches = (patches[chosen] - mean) / deviation
            if len(patches) < len(real):
                real = real[np.random.default_rng(8).permutation(len(real))[: len(patches)]]
            distances.append(1000.0 * sliced_wasserstein(real, patches, seed=201 + index))
        return distances

    def distance(self, pictures: np.ndarray) -> float:
        """The mean of the levels' distances."""
        return float(np.mean(self.levels(pictures)))


def main(argv: list[str] | None = None) -> int:
    """Print each folder's distance per level and their mean, against the real folder."""
    from quality_yardsticks import load_pictures, picture_files

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of generated pictures (sample-*.png)")
    parser.add_argument("--real", type=Path, default=Path("/work/benchdata/icons/heldout"))
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--mode", default="RGB", choices=("RGB", "L"))
    parser.add_argument("-n", type=int, default=2000, help="pictures per folder (the first n by name)")
    args = parser.parse_args(argv)
    measure = PatchDistance(load_pictures(picture_files(args.real), args.side, args.mode))
    for folder in args.folders:
        files = picture_files(folder)[: args.n]
        if not files:
            print(f"{folder}: no pictures")
            continue
        levels = measure.levels(load_pictures(files, args.side, args.mode))
        print(f"{folder}: {np.mean(levels):.1f} (levels {', '.join(f'{value:.1f}' for value in levels)})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

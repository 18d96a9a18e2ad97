"""Distances between sets of feature vectors: the Fréchet distance (FID) and KID.

Both compare features of real and generated images, taken from some network
(Inception-v3 for the standard FID). NumPy only, float64 throughout.
"""

from __future__ import annotations

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean vector and covariance matrix (rows are samples)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError("need at least two feature vectors, as rows of a 2-D array")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance(mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two Gaussians.

    The trace of (S_a S_b)^1/2 is computed as the trace of the square root of
    the symmetric matrix S_a^1/2 S_b S_a^1/2, which has the same eigenvalues and
    avoids the complex round-off of a general matrix square root.
    """
    root_a = _psd_sqrt(np.asarray(cov_a, dtype=np.float64))
    middle = root_a @ np.asarray(cov_b, dtype=np.float64) @ root_a
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues, 0, None))))
    difference = np.asarray(mean_a, dtype=np.float64) - np.asarray(mean_b, dtype=np.float64)
    return float(difference @ difference + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def frechet_distance_of(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature sets."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


def kernel_inception_distance(
    features_a: np.ndarray, features_b: np.ndarray, subset_size: int = 1000, subsets: int = 100, seed: int = 0
) -> tuple[float, float]:
    """KID: the unbiased MMD^2 with the cubic polynomial kernel, mean and std over random subsets.

    k(x, y) = (x . y / d + 1)^3, as in Binkowski et al. (2018).
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise ValueError("KID needs at least two feature vectors on each side")
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        estimates.append(mmd2_unbiased(x, y))
    return float(np.mean(estimates)), float(np.std(estimates))


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased squared MMD between two equal-sized samples with the cubic polynomial kernel."""
    n, dimension = len(x), x.shape[1]
    k_xx = (x @ x.T / dimension + 1) ** 3
    k_yy = (y @ y.T / dimension + 1) ** 3
    k_xy = (x @ y.T / dimension + 1) ** 3
    off_diagonal = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(off_diagonal - 2 * k_xy.sum() / (n * n))

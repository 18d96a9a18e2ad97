"""Fidelity against variety: where a folder of generated icons sits among the real ones, in Lite0's features.

The colour yardstick's Fréchet distance is one number; this splits it the ways that tell what to
change. For each folder of generated pictures, in the colour yardstick's EfficientNet-Lite0 features:

* precision and recall (Kynkäänniemi et al. 2019, k = 3): the share of generated pictures inside
  the held-back icons' k-nearest-neighbour balls (fidelity), and the share of held-back icons inside
  the generated pictures' balls (variety), each from equal counts;
* the Fréchet distance split into its mean term and its covariance term, and the covariance's trace
  beside the held-back icons' (how far the pictures spread, whatever the direction);
* nearest training icons: how many different training icons the pictures sit nearest to, and the
  share taken by the eight most popular, beside the same for the held-back icons.

The training icons against the held-back ones (the floor) print first. In an 8-minute run
(`20261206-220734`) the 64 px colour default drew precision 0.49 and recall 0.03 (floor 0.77 and
0.76), and its 800 pictures sat nearest 203 training icons, eight of them taking 32% (held-back: 542
and 5%).

    refenv/bin/python bench/coverage.py SAMPLES_DIR [SAMPLES_DIR ...]
"""

from __future__ import annotations

import numpy as np
from quality_yardsticks import color_yardstick, folders_with_pictures, frechet_distance, sample_folders_parser

NEIGHBOURS = 3
POPULAR = 8


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Every pair's squared Euclidean distance, rows of ``a`` against rows of ``b``."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T, 0.0)


def inside_share(reference: np.ndarray, probes: np.ndarray, k: int = NEIGHBOURS) -> float:
    """The share of ``probes`` within some reference point's distance to its k-th nearest neighbour."""
    radii = np.sort(squared_distances(reference, reference), axis=1)[:, k]
    return float((squared_distances(probes, reference) <= radii[None, :]).any(axis=1).mean())


def nearest_spread(features: np.ndarray, training: np.ndarray) -> tuple[int, float]:
    """How many training icons are some row's nearest, and the share of rows the most popular take."""
    counts = np.bincount(squared_distances(features, training).argmin(axis=1), minlength=len(training))
    return int((counts > 0).sum()), float(np.sort(counts)[::-1][:POPULAR].sum() / len(features))


def report(name: str, features: np.ndarray, real: np.ndarray, training: np.ndarray, nearest_of: np.ndarray) -> str:
    """One line: ``features`` against the held-back icons ``real``; ``nearest_of``'s rows against ``training``."""
    count = min(len(features), len(real))
    precision = inside_share(real[:count], features[:count])
    recall = inside_share(features[:count], real[:count])
    mean_term = float(((features.mean(0) - real.mean(0)) ** 2).sum())
    covariance_term = frechet_distance(features, real) - mean_term
    trace = float(np.trace(np.cov(features, rowvar=False)))
    distinct, popular = nearest_spread(nearest_of[:count], training)
    return (
        f"{name}: precision {precision:.2f}  recall {recall:.2f}  mean term {mean_term:.1f}  covariance term "
        f"{covariance_term:.1f}  trace {trace:.1f}  nearest {distinct} training icons of {count}, "
        f"the {POPULAR} most popular {popular:.0%}"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the floor's line, then one line per folder."""
    args = sample_folders_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    yardstick = color_yardstick(args.icons, args.cache_dir)
    real, training = yardstick.real_features, yardstick.floor_features
    print(f"{len(real)} held-back icons; trace of their covariance {np.trace(np.cov(real, rowvar=False)):.1f}")
    # The floor: the training icons against the held-back ones; the held-back icons' nearest training icons.
    print(report("training icons (floor)", training, real, training, nearest_of=real))
    for folder in folders_with_pictures(args.folders):
        features = yardstick.embed_folder(folder, limit=args.n)
        if len(features) <= NEIGHBOURS:
            print(f"{folder}: {len(features)} pictures, too few for {NEIGHBOURS} nearest neighbours")
            continue
        print(report(str(folder), features, real, training, nearest_of=features), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

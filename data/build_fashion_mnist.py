"""Rebuild kgan's embedded data set: a Fashion-MNIST subset written as PNG files.

Reads the IDX files that Debian's ``dataset-fashion-mnist`` package installs
(``apt-get install dataset-fashion-mnist``) and writes the first
``--per-class`` training images of each class into one folder per class.

    python data/build_fashion_mnist.py            # rebuilds data/ in place
"""

from __future__ import annotations

import argparse
import gzip
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "t-shirt-top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
)


def read_idx(path: Path) -> np.ndarray:
    """Return the array stored in a gzipped IDX file (unsigned bytes only)."""
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    zero, dtype_code, dimensions = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dimensions))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dimensions).reshape(shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEBIAN_DIR)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--per-class", type=int, default=600)
    args = parser.parse_args()

    images = read_idx(args.source / "train-images-idx3-ubyte.gz")
    labels = read_idx(args.source / "train-labels-idx1-ubyte.gz")
    for label, name in enumerate(CLASS_NAMES):
        folder = args.out / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        # The file name is the image's index in the original training set.
        for index in np.flatnonzero(labels == label)[: args.per_class]:
            Image.fromarray(images[index]).save(folder / f"{index:05d}.png", optimize=True)
    print(f"wrote {args.per_class} images for each of {len(CLASS_NAMES)} classes into {args.out}")


if __name__ == "__main__":
    main()

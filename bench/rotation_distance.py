"""A yardstick that never saw ImageNet: Fréchet distance in a small network trained here, on the training icons only.

The colour yardstick's features come from EfficientNet-Lite0, trained on ImageNet, and kgan's 64 px
colour default trains against another ImageNet network's features (EfficientNet-Lite1, a projected
discriminator): a generator can lower the first distance by matching ImageNet features rather than
by drawing better icons (Kynkäänniemi et al. 2023). The patch distance (bench/patch_distance.py)
sees pixels only. This third opinion sees shapes but no ImageNet: a small convolutional network
trained from scratch on the training icons alone, on a task that needs no labels, which way an
icon was turned (0, 90, 180 or 270 degrees; Gidaris et al. 2018, "Unsupervised representation
learning by predicting image rotations"). Telling an upright icon from a turned one takes knowing
what icons' parts look like and where they go. Its 256 pooled features of the upright pictures are
compared, as a Fréchet distance, with the held-back icons' (never trained on).

Its limits: it names the turn of 55 % of the held-back icons' four turns (chance is 25 %), and
``--known`` shows that it reads lost detail strongly (the floor 0.57; the icons with the detail of
16x16 px 62.0) and lost variety weakly (only 50 different icons, repeated, 2.75). A third opinion
beside the other two, not a replacement for either.

The network is trained once (a fixed seed; a few minutes on 2 cores) and cached under
/work/benchdata/cache, keyed by the training icons. Score sample folders after the fact:

    refenv/bin/python bench/rotation_distance.py SAMPLES_DIR [SAMPLES_DIR ...]
    refenv/bin/python bench/rotation_distance.py --known    # real icons made worse in known ways
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from quality_yardsticks import (
    CACHE_DIR,
    REAL_COUNT,
    Yardstick,
    fixed_draw,
    known_distances,
    load_pictures,
    picture_files,
)
from torch import nn

EPOCHS = 10
BATCH = 64
LEARNING_RATE = 2e-3
SHIFT = 6  # pixels: each training icon is moved by up to this much (white fill) before it is turned
FEATURES = 256


class RotationJudge(nn.Module):
    """A 4x4 stride-2 stem, then 3x3 convolutions of 64, 128 and 256 filters with max pooling after
    each, and one more of 256: pooled to 256 features, then 4 logits. About 70 million multiply-adds
    per 64 px picture, so training takes minutes on 2 cores."""

    def __init__(self) -> None:
        super().__init__()

        def conv(inputs: int, outputs: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
            padding = (kernel - stride) // 2 if stride > 1 else kernel // 2
            layer = nn.Conv2d(inputs, outputs, kernel, stride=stride, padding=padding, bias=False)
            return [layer, nn.BatchNorm2d(outputs), nn.ReLU()]

        self.body = nn.Sequential(
            *conv(3, 32, 4, 2), *conv(32, 64), nn.MaxPool2d(2), *conv(64, 128), nn.MaxPool2d(2),
            *conv(128, FEATURES), nn.MaxPool2d(2), *conv(FEATURES, FEATURES),
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, 4)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 256 globally averaged activations of N x 3 x 64 x 64 images in [-1, 1]."""
        return self.body(images).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the four turns."""
        return self.head(self.features(images))


def as_input(pictures: np.ndarray) -> torch.Tensor:
    """N x 64 x 64 x 3 uint8 to N x 3 x 64 x 64 float in [-1, 1]."""
    return torch.from_numpy(pictures.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


def shifted(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by a random whole number of pixels (up to SHIFT each way), the gap filled with white."""
    count, _, side, _ = images.shape
    padded = F.pad(images, (SHIFT, SHIFT, SHIFT, SHIFT), value=1.0)
    offsets = torch.randint(0, 2 * SHIFT + 1, (count, 2), generator=generator)
    return torch.stack([padded[i, :, y : y + side, x : x + side] for i, (y, x) in enumerate(offsets.tolist())])


def turned(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The images in all four turns, and each one's turn (0-3, quarter turns counterclockwise)."""
    quarters = [torch.rot90(images, k, dims=(2, 3)) for k in range(4)]
    labels = torch.arange(4).repeat_interleave(len(images))
    return torch.cat(quarters), labels


def train_rotation_judge(training: np.ndarray, checking: np.ndarray, path: Path, seed: int = 0) -> float:
    """Train on the training icons (shifted, mirrored), save to path, return the turn accuracy on checking."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = as_input(training)
    judge = RotationJudge()
    optimiser = torch.optim.Adam(judge.parameters(), lr=LEARNING_RATE)
    batches = (len(inputs) + BATCH - 1) // BATCH
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=EPOCHS * batches)
    for epoch in range(EPOCHS):
        judge.train()
        started = time.monotonic()
        order = torch.randperm(len(inputs), generator=generator)
        for first in range(0, len(inputs), BATCH):
            batch = shifted(inputs[order[first : first + BATCH]], generator)
            mirror = torch.rand(len(batch), generator=generator) < 0.5
            batch = torch.where(mirror[:, None, None, None], batch.flip(3), batch)
            images, labels = turned(batch)
            optimiser.zero_grad()
            F.cross_entropy(judge(images), labels).backward()
            optimiser.step()
            schedule.step()
        accuracy = turn_accuracy(judge, checking)
        seconds = time.monotonic() - started
        print(f"rotation judge epoch {epoch + 1}/{EPOCHS}: turn accuracy {accuracy:.3f} ({seconds:.0f}s)", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": judge.state_dict(), "turn_accuracy": accuracy, "epochs": EPOCHS}, path)
    return accuracy


def turn_accuracy(judge: RotationJudge, pictures: np.ndarray) -> float:
    """Share of the pictures' four turns the judge names correctly."""
    judge.eval()
    with torch.no_grad():
        images, labels = turned(as_input(pictures))
        predicted = torch.cat([judge(images[i : i + 500]).argmax(1) for i in range(0, len(images), 500)])
    return float((predicted == labels).float().mean())


def rotation_yardstick(icons: Path, cache_dir: Path = CACHE_DIR) -> Yardstick:
    """The rotation judge's features; real = the held-back icons, floor = up to 2,000 training icons.

    Trains the judge on every training icon first if no judge for these icons is cached.
    """
    training_files = picture_files(icons / "train")
    held_back_files = picture_files(icons / "heldout")
    if not training_files or not held_back_files:
        raise FileNotFoundError(f"no icons in {icons}/train or {icons}/heldout: run bench/icon_set.py")
    listing = [[str(f), f.stat().st_size] for f in training_files]
    key = hashlib.sha1(json.dumps([EPOCHS, BATCH, LEARNING_RATE, SHIFT, listing]).encode()).hexdigest()[:16]
    path = cache_dir / f"icon_rotation_judge-{key}.pt"
    training = load_pictures(training_files, 64, "RGB")
    held_back = load_pictures(held_back_files, 64, "RGB")
    if not path.exists():
        print(f"training the icons' rotation judge once (cached in {path})", flush=True)
        train_rotation_judge(training, held_back, path)
    saved = torch.load(path, weights_only=True)
    judge = RotationJudge()
    judge.load_state_dict(saved["state"])
    judge.eval()

    def embed(pictures: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [judge.features(as_input(pictures[i : i + 250])) for i in range(0, len(pictures), 250)]
        return torch.cat(parts).numpy()

    floor_pictures = training[fixed_draw(len(training), REAL_COUNT)]
    return Yardstick(
        name="rotation",
        side=64,
        mode="RGB",
        description=(
            f"Fréchet distance in the {FEATURES} pooled features of a network trained here from scratch on the "
            f"{len(training)} training icons to tell which way an icon was turned (turn accuracy "
            f"{saved['turn_accuracy']:.3f} on the held-back ones), against {len(held_back)} held-back icons; "
            f"floor: {len(floor_pictures)} training icons"
        ),
        embed=embed,
        real_features=embed(held_back),
        floor_features=embed(floor_pictures),
        floor_pictures=lambda: floor_pictures,
        patches=None,
    )


def main(argv: list[str] | None = None) -> int:
    """Print each folder's distance against the held-back icons, and the floor."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of generated pictures (sample-*.png)")
    parser.add_argument("--icons", type=Path, default=Path("/work/benchdata/icons"))
    parser.add_argument("--cache-dir", type=Path, default=CACHE_DIR)
    parser.add_argument("-n", type=int, default=2000, help="pictures per folder (the first n by name)")
    parser.add_argument("--known", action="store_true", help="also score real icons made worse in known ways")
    args = parser.parse_args(argv)
    yardstick = rotation_yardstick(args.icons, args.cache_dir)
    print(yardstick.description)
    print(f"floor: {yardstick.floor:.2f}")
    if args.known:
        for what, distance in known_distances(yardstick):
            print(f"{distance:8.2f}  {what}", flush=True)
    for folder in args.folders:
        if not picture_files(folder):
            print(f"{folder}: no pictures")
            continue
        print(f"{folder}: {yardstick.distance(folder, limit=args.n):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A yardstick that never saw ImageNet: Fréchet distance in a small network trained here, on the training icons only.

The colour yardstick's features come from EfficientNet-Lite0, trained on ImageNet, and kgan's 64 px
colour default trains against another ImageNet network's features (EfficientNet-Lite1, a projected
discriminator): a generator can lower the first distance by matching ImageNet features rather than
by drawing better icons (Kynkäänniemi et al. 2023). The patch distance (bench/patch_distance.py)
sees pixels only. This third opinion sees shapes but no ImageNet: a small convolutional network
trained from scratch on the training icons alone to tell each one from all the others, whatever
way it is shifted or mirrored (each icon its own class: exemplar training, Dosovitskiy et al. 2014).
Telling 1,569 icons apart takes knowing what makes one icon differ from another, so its 256 pooled
features spread different icons apart: many pictures of a few kinds score far from the held-back
icons (never trained on), and so do pictures without an icon's detail.

Its scale (``--known``): the floor (the training icons themselves, which it has learnt, against
the held-back ones) 9.2; the icons with the detail of 32/16/8/4 px 177/306/433/547; only 200
different icons, repeated, 28.8; only 50, 95.4. It reads lost variety about seven times as strongly,
beside lost detail, as the rotation network that came before it (which named which way an icon was
turned, and scored 50 kinds 2.75 against 16 px detail 62.0): that one ranked a run whose grid was
plainly worse above a better one, this one ranks them as the eye does.

The network is trained once (a fixed seed; about 4 minutes on 2 cores) and cached under
/work/benchdata/cache, keyed by the training icons. Score sample folders after the fact:

    refenv/bin/python bench/identity_distance.py SAMPLES_DIR [SAMPLES_DIR ...]
    refenv/bin/python bench/identity_distance.py --known    # real icons made worse in known ways
"""

from __future__ import annotations

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
    folders_with_pictures,
    known_distances,
    load_pictures,
    picture_files,
    sample_folders_parser,
)
from torch import nn

EPOCHS = 40
BATCH = 64
LEARNING_RATE = 2e-3
SHIFT = 6  # pixels: each training icon is moved by up to this much (white fill), and mirrored half the time
FEATURES = 256


class IdentityJudge(nn.Module):
    """A 4x4 stride-2 stem, then 3x3 convolutions of 64, 128 and 256 filters with max pooling after
    each, and one more of 256: pooled to 256 features, then one logit per training icon. About 70
    million multiply-adds per 64 px picture, so training takes minutes on 2 cores."""

    def __init__(self, icons: int) -> None:
        super().__init__()

        def conv(inputs: int, outputs: int, kernel: int = 3, stride: int = 1) -> list[nn.Module]:
            padding = (kernel - stride) // 2 if stride > 1 else kernel // 2
            layer = nn.Conv2d(inputs, outputs, kernel, stride=stride, padding=padding, bias=False)
            return [layer, nn.BatchNorm2d(outputs), nn.ReLU()]

        self.body = nn.Sequential(
            *conv(3, 32, 4, 2), *conv(32, 64), nn.MaxPool2d(2), *conv(64, 128), nn.MaxPool2d(2),
            *conv(128, FEATURES), nn.MaxPool2d(2), *conv(FEATURES, FEATURES),
        )  # fmt: skip
        self.head = nn.Linear(FEATURES, icons)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 256 globally averaged activations of N x 3 x 64 x 64 images in [-1, 1]."""
        return self.body(images).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of the training icons."""
        return self.head(self.features(images))


def as_input(pictures: np.ndarray) -> torch.Tensor:
    """N x 64 x 64 x 3 uint8 to N x 3 x 64 x 64 float in [-1, 1]."""
    return torch.from_numpy(pictures.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


def moved(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image shifted by a random whole number of pixels (up to SHIFT each way, the gap filled
    with white) and mirrored left to right half the time."""
    count, _, side, _ = images.shape
    padded = F.pad(images, (SHIFT, SHIFT, SHIFT, SHIFT), value=1.0)
    offsets = torch.randint(0, 2 * SHIFT + 1, (count, 2), generator=generator)
    shifted = torch.stack([padded[i, :, y : y + side, x : x + side] for i, (y, x) in enumerate(offsets.tolist())])
    mirror = torch.rand(count, generator=generator) < 0.5
    return torch.where(mirror[:, None, None, None], shifted.flip(3), shifted)


def train_identity_judge(training: np.ndarray, path: Path, seed: int = 0) -> float:
    """Train on the training icons (each its own class), save to path, return the share of a fresh
    shifted and mirrored view of each that it names."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    inputs = as_input(training)
    judge = IdentityJudge(len(inputs))
    optimiser = torch.optim.Adam(judge.parameters(), lr=LEARNING_RATE)
    batches = (len(inputs) + BATCH - 1) // BATCH
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LEARNING_RATE, total_steps=EPOCHS * batches)
    for epoch in range(EPOCHS):
        judge.train()
        started = time.monotonic()
        named = 0
        order = torch.randperm(len(inputs), generator=generator)
        for first in range(0, len(inputs), BATCH):
            which = order[first : first + BATCH]
            logits = judge(moved(inputs[which], generator))
            optimiser.zero_grad()
            F.cross_entropy(logits, which).backward()
            optimiser.step()
            schedule.step()
            named += int((logits.argmax(1) == which).sum())
        seconds = time.monotonic() - started
        share = named / len(inputs)
        print(f"identity judge epoch {epoch + 1}/{EPOCHS}: named {share:.3f} ({seconds:.0f}s)", flush=True)
    judge.eval()
    with torch.no_grad():
        views = moved(inputs, generator)
        guesses = torch.cat([judge(views[i : i + 500]).argmax(1) for i in range(0, len(views), 500)])
    accuracy = float((guesses == torch.arange(len(inputs))).float().mean())
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": judge.state_dict(), "icons": len(inputs), "accuracy": accuracy, "epochs": EPOCHS}, path)
    return accuracy


def identity_yardstick(icons: Path, cache_dir: Path = CACHE_DIR) -> Yardstick:
    """The identity judge's features; real = the held-back icons, floor = up to 2,000 training icons.

    Trains the judge on every training icon first if no judge for these icons is cached.
    """
    training_files = picture_files(icons / "train")
    held_back_files = picture_files(icons / "heldout")
    if not training_files or not held_back_files:
        raise FileNotFoundError(f"no icons in {icons}/train or {icons}/heldout: run bench/icon_set.py")
    listing = [[str(f), f.stat().st_size] for f in training_files]
    key = hashlib.sha1(json.dumps([EPOCHS, BATCH, LEARNING_RATE, SHIFT, listing]).encode()).hexdigest()[:16]
    path = cache_dir / f"icon_identity_judge-{key}.pt"
    training = load_pictures(training_files, 64, "RGB")
    held_back = load_pictures(held_back_files, 64, "RGB")
    if not path.exists():
        print(f"training the icons' identity judge once (cached in {path})", flush=True)
        train_identity_judge(training, path)
    saved = torch.load(path, weights_only=True)
    judge = IdentityJudge(saved["icons"])
    judge.load_state_dict(saved["state"])
    judge.eval()

    def embed(pictures: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            parts = [judge.features(as_input(pictures[i : i + 250])) for i in range(0, len(pictures), 250)]
        return torch.cat(parts).numpy()

    floor_pictures = training[fixed_draw(len(training), REAL_COUNT)]
    return Yardstick(
        name="identity",
        side=64,
        mode="RGB",
        description=(
            f"Fréchet distance in the {FEATURES} pooled features of a network trained here from scratch to tell "
            f"each of the {len(training)} training icons from the others, shifted and mirrored (it names "
            f"{saved['accuracy']:.1%} of them in a fresh view), against {len(held_back)} held-back icons; floor: "
            f"{len(floor_pictures)} training icons (learnt by the judge: about what a generator that copied them "
            "would score)"
        ),
        embed=embed,
        real_features=embed(held_back),
        floor_features=embed(floor_pictures),
        floor_pictures=lambda: floor_pictures,
        patches=None,
    )


def main(argv: list[str] | None = None) -> int:
    """Print each folder's distance against the held-back icons, and the floor."""
    parser = sample_folders_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--known", action="store_true", help="also score real icons made worse in known ways")
    args = parser.parse_args(argv)
    yardstick = identity_yardstick(args.icons, args.cache_dir)
    print(yardstick.description)
    print(f"floor: {yardstick.floor:.2f}")
    if args.known:
        for what, distance in known_distances(yardstick):
            print(f"{distance:8.2f}  {what}", flush=True)
    for folder in folders_with_pictures(args.folders):
        print(f"{folder}: {yardstick.distance(folder, limit=args.n):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

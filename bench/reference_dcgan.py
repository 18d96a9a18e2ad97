"""The reference recipe of the picture-quality benchmark: PyTorch's examples/dcgan, on the CPU, for a wall-clock budget.

Written here from the example's description (no code copied):

- G: a transposed convolution from the noise (nz = 100, shaped 1x1) to a 4x4 map of ngf*8 channels,
  then transposed convolutions (kernel 4, stride 2, padding 1) halving the width each time, each
  followed by batch norm and ReLU, and a last transposed convolution to the image's channels with
  tanh. ngf = 64; at 32 px the widths are 512, 256, 128; at 64 px (the example's own size) 512,
  256, 128, 64.
- D: strided convolutions (kernel 4, stride 2, padding 1) with ndf = 64, 128, 256 (and 512 at 64
  px), LeakyReLU(0.2), batch norm on every one but the first, then a 4x4 convolution to 1 and a
  sigmoid, trained with binary cross-entropy.
- No biases in the convolutions; weights drawn from N(0, 0.02), batch-norm scales from N(1, 0.02).
- Adam, learning rate 2e-4, betas (0.5, 0.999), batch 64, no moving average of G.
- Each step: D on a real batch (label 1) and a fresh fake batch (label 0), then G on that same
  fake batch with label 1 through the updated D.
- Images as the example loads them: transparency composited onto white (the same background
  kgan uses by default), the shorter side resized to the resolution (bilinear), centre-cropped,
  scaled to [-1, 1]. So the 28 px Fashion-MNIST images are resized (bilinear) to 32 px.
- Samples are drawn the way the example draws its fake_samples images: G in training mode,
  batches of 64 (batch norm uses each batch's statistics).

Training stops at the first step that ends past the budget; only the training loop is timed
(data loading and model building are not), like kgan's --minutes. Then it writes
sample-0000.png, ... and stats.json to --out.

    refenv/bin/python bench/reference_dcgan.py DATA --resolution 32 --channels 1 --minutes 2 --out OUT
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

NOISE_SIZE = 100
GENERATOR_WIDTH = 64
DISCRIMINATOR_WIDTH = 64
BATCH_SIZE = 64
LEARNING_RATE = 2e-4
BETA1 = 0.5
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}


def load_picture(path: Path, resolution: int, channels: int) -> np.ndarray | None:
    """One picture as the example would load it (on white, resized, centre-cropped), in [-1, 1], C x H x W."""
    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                rgba = picture.convert("RGBA")
                picture = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            picture = picture.convert("L" if channels == 1 else "RGB")
    except (OSError, ValueError):
        return None
    scale = resolution / min(picture.size)
    resized_size = (max(resolution, round(picture.width * scale)), max(resolution, round(picture.height * scale)))
    picture = picture.resize(resized_size, Image.BILINEAR)
    left = (picture.width - resolution) // 2
    top = (picture.height - resolution) // 2
    picture = picture.crop((left, top, left + resolution, top + resolution))
    pixels = np.asarray(picture, dtype=np.float32).reshape(resolution, resolution, channels)
    return pixels.transpose(2, 0, 1) / 127.5 - 1.0


def load_folder(folder: Path, resolution: int, channels: int) -> torch.Tensor:
    """Every readable picture under folder (recursively, hidden files skipped) as one N x C x H x W tensor."""
    pictures = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            picture = load_picture(path, resolution, channels)
            if picture is not None:
                pictures.append(picture)
    if not pictures:
        raise SystemExit(f"no pictures found in {folder}")
    return torch.from_numpy(np.stack(pictures))


def build_generator(resolution: int, channels: int) -> nn.Sequential:
    """The example's G, with one doubling stage fewer at 32 px than at 64 px."""
    widths = [GENERATOR_WIDTH * 8, GENERATOR_WIDTH * 4, GENERATOR_WIDTH * 2]
    if resolution == 64:
        widths.append(GENERATOR_WIDTH)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(NOISE_SIZE, widths[0], 4, 1, 0, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(True),
    ]
    for wider, narrower in zip(widths, widths[1:]):
        layers += [nn.ConvTranspose2d(wider, narrower, 4, 2, 1, bias=False), nn.BatchNorm2d(narrower), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def build_discriminator(resolution: int, channels: int) -> nn.Sequential:
    """The example's D, with one halving stage fewer at 32 px than at 64 px."""
    widths = [DISCRIMINATOR_WIDTH, DISCRIMINATOR_WIDTH * 2, DISCRIMINATOR_WIDTH * 4]
    if resolution == 64:
        widths.append(DISCRIMINATOR_WIDTH * 8)
    layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
    for narrower, wider in zip(widths, widths[1:]):
        layers += [nn.Conv2d(narrower, wider, 4, 2, 1, bias=False), nn.BatchNorm2d(wider), nn.LeakyReLU(0.2, True)]
    layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False), nn.Sigmoid()]
    return nn.Sequential(*layers)


def initialise_weights(module: nn.Module) -> None:
    """The example's initialisation: convolutions N(0, 0.02); batch norm scale N(1, 0.02), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def train_for(
    images: torch.Tensor, generator: nn.Module, discriminator: nn.Module, seconds: float, log_every: float = 15.0
) -> dict:
    """Alternate D and G steps over shuffled batches until the budget is spent; return the step count and timing."""
    loss = nn.BCELoss()
    optimise_d = torch.optim.Adam(discriminator.parameters(), lr=LEARNING_RATE, betas=(BETA1, 0.999))
    optimise_g = torch.optim.Adam(generator.parameters(), lr=LEARNING_RATE, betas=(BETA1, 0.999))
    generator.train()
    discriminator.train()
    steps = 0
    epochs = 0
    started = time.monotonic()
    next_log = log_every
    elapsed = 0.0
    while elapsed < seconds:
        order = torch.randperm(len(images))
        for first in range(0, len(images), BATCH_SIZE):
            real = images[order[first : first + BATCH_SIZE]]
            count = len(real)
            discriminator.zero_grad()
            d_real = discriminator(real).view(-1)
            d_loss_real = loss(d_real, torch.ones(count))
            d_loss_real.backward()
            fake = generator(torch.randn(count, NOISE_SIZE, 1, 1))
            d_fake = discriminator(fake.detach()).view(-1)
            d_loss_fake = loss(d_fake, torch.zeros(count))
            d_loss_fake.backward()
            optimise_d.step()
            generator.zero_grad()
            g_loss = loss(discriminator(fake).view(-1), torch.ones(count))
            g_loss.backward()
            optimise_g.step()
            steps += 1
            elapsed = time.monotonic() - started
            if elapsed >= next_log:
                print(
                    f"reference step {steps}  D {(d_loss_real + d_loss_fake).item():.3f}  G {g_loss.item():.3f}  "
                    f"D(x) {d_real.mean().item():.2f}  {steps * BATCH_SIZE / elapsed:,.0f} img/s  {elapsed:.0f}s",
                    flush=True,
                )
                next_log += log_every
            if elapsed >= seconds:
                break
        epochs += 1
    return {
        "steps": steps,
        "epochs": epochs,
        "train_seconds": elapsed,
        "images_per_second": steps * BATCH_SIZE / max(elapsed, 1e-9),
    }


def write_samples(generator: nn.Module, count: int, seed: int, out: Path) -> None:
    """Draw count images in batches of 64, G in training mode as the example does, as sample-NNNN.png."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    generator.train()
    written = 0
    with torch.no_grad():
        while written < count:
            batch = generator(torch.randn(BATCH_SIZE, NOISE_SIZE, 1, 1))[: count - written]
            pixels = ((batch.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
            for picture in pixels:
                mode_pixels = picture[..., 0] if picture.shape[-1] == 1 else picture
                Image.fromarray(mode_pixels).save(out / f"sample-{written:04d}.png")
                written += 1


def main(argv: list[str] | None = None) -> int:
    """Train the reference for the budget, then write the samples and stats.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder of training pictures (recursive)")
    parser.add_argument("--resolution", type=int, choices=(32, 64), default=32)
    parser.add_argument("--channels", type=int, choices=(1, 3), default=1)
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    parser.add_argument("--out", type=Path, required=True, help="folder for sample-NNNN.png and stats.json")
    parser.add_argument("-n", "--count", type=int, default=2000, help="samples to write")
    parser.add_argument("--seed", type=int, default=None, help="seed for training (random if not given)")
    parser.add_argument("--sample-seed", type=int, default=0, help="seed for the samples' noise")
    args = parser.parse_args(argv)

    setup_started = time.monotonic()
    seed = args.seed if args.seed is not None else int.from_bytes(np.random.bytes(4), "little")
    torch.manual_seed(seed)
    images = load_folder(args.data, args.resolution, args.channels)
    generator = build_generator(args.resolution, args.channels)
    discriminator = build_discriminator(args.resolution, args.channels)
    generator.apply(initialise_weights)
    discriminator.apply(initialise_weights)
    print(
        f"reference DCGAN at {args.resolution}x{args.resolution}x{args.channels} on {len(images)} pictures, "
        f"{torch.get_num_threads()} threads, seed {seed}",
        flush=True,
    )
    setup_seconds = time.monotonic() - setup_started
    stats = train_for(images, generator, discriminator, args.minutes * 60)
    write_samples(generator, args.count, args.sample_seed, args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(generator.state_dict(), args.out / "generator.pt")
    stats.update({"seed": seed, "images": len(images), "resolution": args.resolution, "setup_seconds": setup_seconds})
    (args.out / "stats.json").write_text(json.dumps(stats, indent=1))
    print(f"reference finished at step {stats['steps']} after {stats['train_seconds']:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

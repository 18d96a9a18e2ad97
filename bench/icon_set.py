"""Build the colour image set of the picture-quality benchmark from Debian's openclipart-png.

openclipart-png (Open Clip Art Library, public domain dedication, see
/usr/share/doc/openclipart-png/copyright) ships about 8,000 PNG drawings in 22
kinds (animals, food, people, transportation, computer icons, signs, ...),
most on a transparent background and few of them square. This script keeps the
colourful ones that have a transparent background, fits each into 64x64
(aspect kept, transparent padding, RGBA PNG), drops exact look-alikes, and
splits them by a hash of their path into a training folder and a held-back
folder that the benchmark scores against.

    python bench/icon_set.py --out /work/benchdata/icons

Run it with the benchmark's environment (/work/benchdata/refenv), which has Pillow and NumPy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE = Path("/usr/share/openclipart/png")
SIDE = 64
MIN_SOURCE_SIDE = 48
MAX_SOURCE_PIXELS = 40_000_000
MIN_TRANSPARENT_SHARE = 0.05
MIN_OPAQUE_SHARE = 0.08
MIN_COLOURFULNESS = 0.2


def fit_on_transparent_square(picture: Image.Image, side: int = SIDE) -> Image.Image:
    """Shrink an RGBA picture to fit in side x side, keeping its aspect, centred on transparency."""
    picture = picture.convert("RGBA")
    picture.thumbnail((side, side), Image.LANCZOS, reducing_gap=3.0)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    return square


def describe(square: Image.Image) -> dict[str, float]:
    """Share of transparent and of opaque pixels, and the mean saturation of the opaque ones."""
    rgba = np.asarray(square, dtype=np.float32) / 255.0
    alpha = rgba[..., 3]
    brightest = rgba[..., :3].max(axis=-1)
    darkest = rgba[..., :3].min(axis=-1)
    saturation = (brightest - darkest) / np.maximum(brightest, 1e-3)
    return {
        "transparent": float((alpha < 0.5).mean()),
        "opaque": float((alpha >= 0.5).mean()),
        "colourfulness": float((saturation * alpha).sum() / max(alpha.sum(), 1e-3)),
    }


def look_alike_key(square: Image.Image) -> bytes:
    """A 16x16 average hash of the picture on white: equal keys are treated as the same picture."""
    on_white = Image.alpha_composite(Image.new("RGBA", square.size, (255, 255, 255, 255)), square)
    small = np.asarray(on_white.convert("L").resize((16, 16), Image.BILINEAR), dtype=np.float32)
    return np.packbits(small > small.mean()).tobytes()


def path_hash(relative: Path) -> str:
    """A stable hash of a source path, used to order pictures for the split."""
    return hashlib.sha1(str(relative).encode()).hexdigest()


def collect(source: Path) -> tuple[list[tuple[Path, Image.Image]], Counter]:
    """Every usable source picture fitted to 64 px, and the count of the others by reason."""
    kept: list[tuple[Path, Image.Image]] = []
    dropped: Counter = Counter()
    seen_keys: set[bytes] = set()
    for path in sorted(source.rglob("*.png")):
        relative = path.relative_to(source)
        try:
            with Image.open(path) as picture:
                if picture.width * picture.height > MAX_SOURCE_PIXELS:
                    dropped["too large to decode"] += 1
                    continue
                if max(picture.size) < MIN_SOURCE_SIDE:
                    dropped[f"smaller than {MIN_SOURCE_SIDE} px"] += 1
                    continue
                if "A" not in picture.mode and "transparency" not in picture.info:
                    dropped["no transparency"] += 1
                    continue
                square = fit_on_transparent_square(picture)
        except (OSError, ValueError, Image.DecompressionBombError):
            dropped["unreadable"] += 1
            continue
        facts = describe(square)
        if facts["transparent"] < MIN_TRANSPARENT_SHARE:
            dropped["no transparent background"] += 1
        elif facts["opaque"] < MIN_OPAQUE_SHARE:
            dropped["too thin or small"] += 1
        elif facts["colourfulness"] < MIN_COLOURFULNESS:
            dropped["gray or line art"] += 1
        elif (key := look_alike_key(square)) in seen_keys:
            dropped["look-alike of another"] += 1
        else:
            seen_keys.add(key)
            kept.append((relative, square))
    return kept, dropped


def write_split(kept: list[tuple[Path, Image.Image]], out: Path, heldout_count: int) -> dict:
    """Write train/ and heldout/ under out (emptied first) and return the manifest."""
    ordered = sorted(kept, key=lambda item: path_hash(item[0]))
    splits = {"heldout": ordered[:heldout_count], "train": ordered[heldout_count:]}
    manifest: dict = {
        "source": "Debian package openclipart-png (Open Clip Art Library), public domain dedication",
        "side": SIDE,
        "splits": {},
    }
    for split_name, members in splits.items():
        folder = out / split_name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        files = []
        for index, (relative, square) in enumerate(members):
            name = f"{index:05d}-{relative.parts[0]}-{relative.stem[:40]}.png"
            square.save(folder / name)
            files.append({"file": name, "source": str(relative)})
        manifest["splits"][split_name] = files
    return manifest


def main(argv: list[str] | None = None) -> int:
    """Build the set and print what went where."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="openclipart-png's PNG folder")
    parser.add_argument("--out", type=Path, default=Path("/work/benchdata/icons"), help="writes train/ and heldout/")
    parser.add_argument("--heldout", type=int, default=800, help="pictures held back for scoring")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"{args.source} not found: apt-get install openclipart-png", file=sys.stderr)
        return 1
    Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # larger ones are skipped unread
    kept, dropped = collect(args.source)
    if len(kept) < args.heldout + 1000:
        print(f"only {len(kept)} usable pictures; need {args.heldout} held back + 1,000 to train", file=sys.stderr)
        return 1
    manifest = write_split(kept, args.out, args.heldout)
    manifest["dropped"] = dict(dropped)
    manifest["kinds"] = dict(Counter(relative.parts[0] for relative, _ in kept))
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(
        f"{len(manifest['splits']['train'])} training and {len(manifest['splits']['heldout'])} held-back "
        f"pictures in {args.out}; dropped: {dict(dropped)}"
    )
    print(f"kinds: {manifest['kinds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

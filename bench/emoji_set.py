"""Build a 128 px colour render set for the picture-quality benchmark from Debian's Noto Color Emoji font.

fonts-noto-color-emoji (SIL Open Font License 1.1, see
/usr/share/doc/fonts-noto-color-emoji/copyright) draws about 1,400 single-code-point
emoji (faces, people, animals, food, objects, flags' symbols, ...) as colour
bitmaps on a transparent background. This script renders each one the font has,
fits it into 128x128 (aspect kept, transparent padding, RGBA PNG), drops blank
and exact look-alike renders, and splits them by a hash of the code point into a
training folder and a held-back folder, as bench/icon_set.py does for the icons.

The issue that asked for the benchmark keeps this font aside for checking that
kgan's defaults are not tuned to the two yardsticks' folders; it is the "128 px
renders" folder of the no-worse-than-before table.

    apt-get install fonts-noto-color-emoji
    /work/benchdata/refenv/bin/python bench/emoji_set.py --out /work/benchdata/emoji
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
BITMAP_SIZE = 109  # the only size the font's colour bitmaps come in
SIDE = 128
HELDOUT_SHARE = 0.25
# The blocks where single code points are emoji (pictographs, transport, faces, symbols, ...).
BLOCKS = ((0x2600, 0x27BF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1FAFF))


def render(font: ImageFont.FreeTypeFont, code_point: int) -> Image.Image | None:
    """The emoji fitted on a transparent SIDE x SIDE square, or None when the font has no picture for it."""
    canvas = Image.new("RGBA", (160, 160), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((8, 8), chr(code_point), font=font, embedded_color=True)
    box = canvas.getbbox()
    if box is None:
        return None
    picture = canvas.crop(box)
    rgba = np.asarray(picture)
    # A missing glyph renders as a monochrome box or nothing: keep only colourful pictures.
    if (rgba[..., 3] > 127).mean() < 0.05 or rgba[..., :3][rgba[..., 3] > 127].std() < 10:
        return None
    picture.thumbnail((SIDE, SIDE), Image.LANCZOS)
    square = Image.new("RGBA", (SIDE, SIDE), (0, 0, 0, 0))
    square.paste(picture, ((SIDE - picture.width) // 2, (SIDE - picture.height) // 2))
    return square


def is_held_back(code_point: int) -> bool:
    digest = hashlib.sha256(f"{code_point:x}".encode()).digest()
    return digest[0] < 256 * HELDOUT_SHARE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/work/benchdata/emoji"))
    args = parser.parse_args()
    if not FONT.exists():
        raise SystemExit(f"{FONT} not found: apt-get install fonts-noto-color-emoji")
    font = ImageFont.truetype(str(FONT), BITMAP_SIZE)
    seen: set[bytes] = set()
    counts = {"train": 0, "heldout": 0}
    for split in counts:
        (args.out / split).mkdir(parents=True, exist_ok=True)
    for first, last in BLOCKS:
        for code_point in range(first, last + 1):
            square = render(font, code_point)
            if square is None:
                continue
            fingerprint = hashlib.sha256(square.tobytes()).digest()
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            split = "heldout" if is_held_back(code_point) else "train"
            square.save(args.out / split / f"u{code_point:05x}.png")
            counts[split] += 1
    manifest = {"source": "Debian package fonts-noto-color-emoji (SIL OFL 1.1)", "side": SIDE, **counts}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{counts['train']} training and {counts['heldout']} held-back emoji in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The README's picture of style guides: one photo through three built-in guides, each
guide's look box drawn on the photo and its image beside it.

    .venv/bin/python scripts/style_pictures.py [PHOTO] [--out docs/style-guides.jpg]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from catalog.runner import run
from shared.domain.records import Options
from shared.domain.styles import load_guide

ROOT = Path(__file__).resolve().parents[1]
GUIDES = {"full-look": (230, 60, 60), "headless": (40, 120, 230), "marketplace-square": (30, 160, 70)}
TILE = 300  # the height of each picture in the strip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", type=Path, default=ROOT / "tests/fixtures/person_fullbody_scene_12.jpg")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/style-guides.jpg")
    args = parser.parse_args()
    photo = Image.open(args.photo).convert("RGB")
    drawn = photo.copy()
    draw = ImageDraw.Draw(drawn)
    tiles = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, colour in GUIDES.items():
            record = run([args.photo], Path(tmp) / name, Options(style=load_guide(name))).images[0]
            look = next(i for i in record.items if i.type == "look")
            assert look.size is not None  # a style guide sets its looks' size
            draw.rectangle(look.box, outline=colour, width=3)
            draw.text((look.box[0] + 4, max(2, look.box[1] + 2)), name, fill=colour)
            with Image.open(Path(tmp) / name / look.files.image) as image:
                tile = image.convert("RGB")
            tile.thumbnail((TILE * 2, TILE))
            labelled = Image.new("RGB", (tile.width, tile.height + 18), "white")
            labelled.paste(tile, (0, 18))
            ImageDraw.Draw(labelled).text((2, 2), f"{name} {look.size[0]}x{look.size[1]}", fill=colour)
            tiles.append(labelled)
    drawn.thumbnail((TILE * 3, TILE + 18))
    strip = [drawn, *tiles]
    width = sum(t.width for t in strip) + 10 * (len(strip) - 1)
    sheet = Image.new("RGB", (width, max(t.height for t in strip)), "white")
    x = 0
    for tile in strip:
        sheet.paste(tile, (x, 0))
        x += tile.width + 10
    sheet.save(args.out, quality=85)
    print(f"wrote {args.out} ({sheet.width}x{sheet.height})")


if __name__ == "__main__":
    main()

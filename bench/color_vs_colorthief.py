"""Our dominant_color against colorthief on items painted in known colours on busy photos.

    .venv/bin/python bench/color_vs_colorthief.py [--cases 30] [--seed 0] [--out FILE]

Each case paints one irregular shape (a rotated ellipse or a random star polygon, 10-40%
of the photo) in a known colour, plus seeded Gaussian noise (sigma 4 per channel), onto a
real busy background: the cluttered and scene photos of the public test set and
skimage's astronaut, chelsea and coffee, scaled to at most 800 px on the long side.
The colours run through saturated, dark, light and desaturated ones.

The variants, in this order on every case:
  ours           services.color.dominant.dominant_color(rgb, mask), mask = the shape (as the
                 pipeline gives it the item's matte); k=5, the pipeline's default
  ours-1thread   the same call inside threadpoolctl.threadpool_limits(1): scikit-learn's
                 k-means otherwise runs OpenMP threads, which stall when the cores are busy
                 (since d2c8599 dominant_color limits itself, so both are the same code)
  ours-loose     ours, given the shape grown by 2% of the photo's long side: a matte that
                 spills onto the background, as a real one can (a harder test than the
                 exact shape; the share of background pixels in it is reported)
  ct-photo-q1    ColorThief(file).get_color(quality=1) on the whole photo (no mask: this
  ct-photo-q10   ... quality=10            is how colorthief is used; it cannot take one)
  ct-crop-q1     ColorThief on the item cropped to its bounding box (fairer: the only
  ct-crop-q10    ... quality=10            background left is the box's corners)

ColorThief gets a lossless PNG in memory, decoded before the clock starts; the time is
get_color alone (its RGBA conversion, pixel loop and median cut). The error is CIEDE2000
between the variant's colour and the painted one.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage.data
from colorthief import ColorThief
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.draw import ellipse, polygon
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

from services.color.dominant import dominant_color  # noqa: E402
from shared.infra.imageio import read_image  # noqa: E402

MAX_SIDE = 800
NOISE_SIGMA = 4.0
# name -> RGB; the group says which kind of colour it is.
COLOURS = {
    "saturated": {
        "red": (200, 30, 40),
        "orange": (235, 120, 20),
        "yellow": (240, 205, 40),
        "green": (40, 150, 60),
        "blue": (30, 90, 200),
        "purple": (120, 50, 160),
        "pink": (230, 90, 160),
        "teal": (20, 140, 140),
    },
    "dark": {
        "black": (20, 20, 22),
        "navy": (25, 35, 75),
        "burgundy": (90, 20, 35),
        "dark green": (25, 60, 35),
        "chocolate": (70, 40, 25),
        "charcoal": (50, 52, 58),
    },
    "light": {
        "off-white": (242, 238, 228),
        "pastel pink": (245, 200, 210),
        "baby blue": (180, 210, 240),
        "mint": (190, 235, 210),
        "cream": (245, 230, 190),
        "lavender": (215, 200, 235),
    },
    "desaturated": {
        "grey": (128, 128, 128),
        "khaki": (165, 150, 115),
        "taupe": (130, 115, 100),
        "slate": (100, 115, 130),
        "olive drab": (110, 115, 80),
        "dusty rose": (180, 140, 140),
        "sage": (150, 165, 140),
        "stone": (190, 185, 175),
    },
}
VARIANTS = ("ours", "ours-1thread", "ours-loose", "ct-photo-q1", "ct-photo-q10", "ct-crop-q1", "ct-crop-q10")


def backgrounds() -> list[tuple[str, np.ndarray]]:
    out = [(p.name, read_image(p)) for p in _common.photos() if "cluttered" in p.name or "scene" in p.name]
    out += [(f"skimage.{n}", getattr(skimage.data, n)()) for n in ("astronaut", "chelsea", "coffee")]
    scaled = []
    for name, rgb in out:
        h, w = rgb.shape[:2]
        s = MAX_SIDE / max(h, w)
        if s < 1:
            rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        scaled.append((name, np.ascontiguousarray(rgb)))
    return scaled


def shape_mask(h: int, w: int, rng: np.random.Generator, ellipse_shape: bool) -> np.ndarray:
    """An irregular shape covering 10-40% of the photo, somewhere inside it."""
    target = rng.uniform(0.10, 0.40) * h * w
    mask = np.zeros((h, w), bool)
    if ellipse_shape:
        aspect = rng.uniform(0.5, 1.0)
        ry = np.sqrt(target / (np.pi * aspect))
        rx = ry * aspect
        r = max(rx, ry)
        cy, cx = rng.uniform(min(r, h / 2), max(h - r, h / 2)), rng.uniform(min(r, w / 2), max(w - r, w / 2))
        rr, cc = ellipse(cy, cx, ry, rx, shape=(h, w), rotation=rng.uniform(0, np.pi))
    else:
        n = rng.integers(7, 13)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radii = rng.uniform(0.6, 1.0, n)
        # area of the star polygon for unit scale, to size it to the target
        xs, ys = radii * np.cos(angles), radii * np.sin(angles)
        unit_area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))
        scale = min(np.sqrt(target / unit_area), 0.5 * min(h, w) / 1.0)
        cy, cx = rng.uniform(scale, h - scale), rng.uniform(scale, w - scale)
        rr, cc = polygon(cy + scale * ys, cx + scale * xs, shape=(h, w))
    mask[rr, cc] = True
    return mask


def make_cases(count: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    bgs = backgrounds()
    # round-robin over the groups, so any number of cases mixes all four kinds
    by_group = [[(group, name, rgb) for name, rgb in named.items()] for group, named in COLOURS.items()]
    colours = [c for rank in range(max(map(len, by_group))) for g in by_group if rank < len(g) for c in [g[rank]]]
    cases = []
    for i in range(count):
        group, name, colour = colours[i % len(colours)]
        bg_name, bg = bgs[i % len(bgs)]
        h, w = bg.shape[:2]
        mask = shape_mask(h, w, rng, ellipse_shape=i % 2 == 0)
        img = bg.astype(np.float32)
        noise = rng.normal(0, NOISE_SIGMA, (int(mask.sum()), 3))
        img[mask] = np.asarray(colour, np.float32) + noise
        cases.append(
            {
                "id": i,
                "group": group,
                "colour": name,
                "rgb": colour,
                "background": bg_name,
                "shape": "ellipse" if i % 2 == 0 else "polygon",
                "size": f"{w}x{h}",
                "item_share": round(float(mask.mean()), 3),
                "image": np.clip(img.round(), 0, 255).astype(np.uint8),
                "mask": mask,
            }
        )
    return cases


def colour_thief(rgb: np.ndarray, quality: int) -> tuple[tuple[int, int, int], float]:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    buf.seek(0)
    thief = ColorThief(buf)
    thief.image.load()  # decode outside the clock
    t = time.perf_counter()
    colour = thief.get_color(quality=quality)
    return tuple(colour), (time.perf_counter() - t) * 1000


def delta_e(a, b) -> float:
    lab = rgb2lab(np.array([[a, b]], np.uint8))
    return float(deltaE_ciede2000(lab[0, 0], lab[0, 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    record = _common.header("color_vs_colorthief")
    record["versions"] = _common.versions(
        "colorthief", "threadpoolctl", "scikit-learn", "scikit-image", "numpy", "pillow"
    )
    cases = make_cases(args.cases, args.seed)
    dominant_color(cases[0]["image"], cases[0]["mask"])  # warm-up (imports, first k-means)

    rows = []
    for case in cases:
        rgb, mask = case["image"], case["mask"]
        ys, xs = np.nonzero(mask)
        crop = rgb[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        got = {}
        t = time.perf_counter()
        got["ours"] = (dominant_color(rgb, mask).rgb, (time.perf_counter() - t) * 1000)
        with threadpool_limits(1):
            t = time.perf_counter()
            got["ours-1thread"] = (dominant_color(rgb, mask).rgb, (time.perf_counter() - t) * 1000)
        for q in (1, 10):
            got[f"ct-photo-q{q}"] = colour_thief(rgb, q)
        for q in (1, 10):
            got[f"ct-crop-q{q}"] = colour_thief(crop, q)
        margin = max(1, round(0.02 * max(rgb.shape[:2])))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
        loose = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
        t = time.perf_counter()
        got["ours-loose"] = (dominant_color(rgb, loose).rgb, (time.perf_counter() - t) * 1000)
        row = {k: v for k, v in case.items() if k not in ("image", "mask")}
        row["loose_mask_background_share"] = round(float(1 - mask.sum() / loose.sum()), 3)
        for variant, (colour, ms) in got.items():
            row[variant] = {"rgb": list(colour), "ms": round(ms, 1), "de2000": round(delta_e(colour, case["rgb"]), 2)}
        rows.append(row)
        print(
            f"{case['id']:2} {case['colour']:12} {case['group']:11} on {case['background'][:26]:26} "
            f"item {case['item_share']:.0%}  dE " + "  ".join(f"{v} {row[v]['de2000']:5.1f}" for v in VARIANTS),
            flush=True,
        )

    table: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        errors = [r[variant]["de2000"] for r in rows]
        table[variant] = {
            "ms": _common.summary([r[variant]["ms"] for r in rows]),
            "de2000": _common.summary(errors),
            "share_de_below_5": round(float(np.mean(np.array(errors) < 5)), 3),
            "median_de_by_group": {
                g: round(float(np.median([r[variant]["de2000"] for r in rows if r["group"] == g])), 2)
                for g in COLOURS
                if any(r["group"] == g for r in rows)
            },
        }
    record.update(
        {
            "cases": len(rows),
            "seed": args.seed,
            "noise_sigma": NOISE_SIGMA,
            "max_side": MAX_SIDE,
            "loose_mask_background_share_median": round(
                float(np.median([r["loose_mask_background_share"] for r in rows])), 3
            ),
            "variants": {
                "ours": "dominant_color(rgb, mask=shape), k=5",
                "ours-1thread": "the same inside threadpoolctl.threadpool_limits(1)",
                "ours-loose": "dominant_color(rgb, mask=shape grown by 2% of the long side), k=5",
                "ct-photo-q1": "ColorThief(whole photo).get_color(quality=1), no mask",
                "ct-photo-q10": "ColorThief(whole photo).get_color(quality=10), no mask",
                "ct-crop-q1": "ColorThief(item's bounding-box crop).get_color(quality=1)",
                "ct-crop-q10": "ColorThief(item's bounding-box crop).get_color(quality=10)",
            },
            "summary": table,
            "per_case": rows,
        }
    )

    print(
        f"\n{'variant':14}{'median ms':>10}{'mean ms':>9}{'dE median':>11}{'dE p90':>8}{'dE<5':>7}   "
        + "  ".join(f"{g[:5]:>5}" for g in COLOURS)
    )
    for variant, s in table.items():
        print(
            f"{variant:14}{s['ms']['median']:>10.1f}{s['ms']['mean']:>9.1f}{s['de2000']['median']:>11.2f}"
            f"{s['de2000']['p90']:>8.2f}{s['share_de_below_5']:>7.0%}   "
            + "  ".join(f"{s['median_de_by_group'].get(g, float('nan')):>5.1f}" for g in COLOURS)
        )
    print("(last columns: median dE by colour group)")
    _common.write("color_vs_colorthief", record, args.out)


if __name__ == "__main__":
    main()

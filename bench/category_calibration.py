"""How well a product's category_score says how often its category is right, and the Platt
scaling that makes it so (the segment settings category_slope and category_offset).

    .venv/bin/python bench/category_calibration.py [--labels LABELS DIR ...] [--out FILE]

The in-process pipeline runs on every labelled product photo (default: the public and dev
sets beside the checkout) with the calibration switched off, so each product's score is its
raw share of the evidence. A product is right when its first item's category is one the
label accepts. Then:
- the fit: logistic regression of right or wrong on logit(share), on every photo (the
  slope and offset to put in the settings);
- the reliability of the raw share and of the calibrated score, the latter left out one
  photo at a time (each photo's score from a fit on the others, so no photo grades its own
  fit): per score band, how many products, their mean score and how many were right, with
  the expected calibration error (ECE) and the Brier score;
- what each review threshold would flag: products below it, the wrong ones among them,
  and how often the products above it are right.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from _common import PROJECT_ROOT, header, write
from rich.console import Console
from rich.table import Table

from catalog.crossfit import platt_fit

TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
DEFAULT_SETS = [(TESTDATA / "labels.json", TESTDATA / "public"), (TESTDATA / "dev" / "labels.json", TESTDATA / "dev")]
BANDS = np.linspace(0, 1, 6)
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def raw_scores(sets: list[tuple[Path, Path]]) -> list[dict]:
    """Each labelled product photo's first item: its category, raw share and whether the
    label accepts it."""
    os.environ["CATALOG_SEGMENT_CATEGORY_SLOPE"], os.environ["CATALOG_SEGMENT_CATEGORY_OFFSET"] = "1", "0"
    from catalog.evaluation import expects_person
    from catalog.runner import process_file
    from shared.domain.records import Options

    out = Path(tempfile.mkdtemp(prefix="calibration-"))
    rows = []
    for labels, folder in sets:
        for label in json.loads(labels.read_text()):
            if expects_person(label):
                continue
            record = process_file(folder / label["file"], out, Path(label["file"]).stem, Options())
            products = [i for i in record.items if i.type == "product"]
            if not products:
                continue  # taken for a person: no category to grade
            accepted = {label.get("product_category"), *label.get("product_categories_ok", [])}
            first = products[0]
            rows.append(
                {"photo": label["file"], "category": first.category, "share": first.category_score,
                 "right": first.category in accepted}
            )  # fmt: skip
    return rows


def left_out(shares: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each photo's calibrated score (the product's own mapping) from a fit on all the others."""
    from shared.domain.confidence import ProductConfidence

    scores = np.empty(len(shares))
    for i in range(len(shares)):
        others = np.arange(len(shares)) != i
        scores[i] = ProductConfidence(*platt_fit(shares[others], right[others]), flag_below=0).probability(shares[i])
    return scores


def reliability(scores: np.ndarray, right: np.ndarray, unit: str = "products") -> dict:
    bands, ece = [], 0.0
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        inside = (scores >= lo) & ((scores < hi) if hi < 1 else (scores <= hi))
        if inside.any():
            mean, rate = float(scores[inside].mean()), float(right[inside].mean())
            ece += inside.sum() / len(scores) * abs(mean - rate)
            bands.append({"band": f"{lo:.1f}-{hi:.1f}", unit: int(inside.sum()), "mean_score": round(mean, 3),
                          "right": round(rate, 3)})  # fmt: skip
    return {"bands": bands, "ece": round(ece, 3), "brier": round(float(np.mean((scores - right) ** 2)), 3)}


def review_table(scores: np.ndarray, right: np.ndarray, thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict]:
    rows = []
    for threshold in thresholds:
        flagged = scores < threshold
        rows.append(
            {"below": threshold, "flagged": int(flagged.sum()), "wrong_flagged": int((flagged & ~right).sum()),
             "wrong": int((~right).sum()),
             "trusted_right": round(float(right[~flagged].mean()), 3) if (~flagged).any() else None}
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs=2, action="append", metavar=("LABELS", "DIR"), type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    record = header("category_calibration")
    rows = raw_scores(args.labels or DEFAULT_SETS)
    shares = np.array([r["share"] for r in rows], float)
    right = np.array([r["right"] for r in rows], bool)
    slope, offset = platt_fit(shares, right)
    held_out = left_out(shares, right)
    record.update(
        products=len(rows), right=int(right.sum()), slope=round(slope, 3), offset=round(offset, 3),
        raw=reliability(shares, right), calibrated_left_out=reliability(held_out, right),
        review=review_table(held_out, right), photos=rows,
    )  # fmt: skip

    console = Console()
    console.print(f"{len(rows)} products, {int(right.sum())} filed right; fit: slope {slope:.3f}, offset {offset:.3f}")
    for name in ("raw", "calibrated_left_out"):
        console.print(reliability_table(name, record[name]))
    console.print(review_rich_table("review below a calibrated score (left out one photo at a time)", record["review"]))
    write("category_calibration", record, args.out)


def reliability_table(title: str, reliability: dict, unit: str = "products") -> Table:
    table = Table(title=f"{title}: ECE {reliability['ece']}, Brier {reliability['brier']}")
    for column in ("band", unit, "mean score", "right"):
        table.add_column(column)
    for band in reliability["bands"]:
        table.add_row(band["band"], str(band[unit]), str(band["mean_score"]), str(band["right"]))
    return table


def review_rich_table(title: str, rows: list[dict]) -> Table:
    table = Table(title=title)
    for column in ("below", "flagged", "wrong among them", "wrong in all", "trusted ones right"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("below", "flagged", "wrong_flagged", "wrong", "trusted_right")))
    return table


if __name__ == "__main__":
    main()

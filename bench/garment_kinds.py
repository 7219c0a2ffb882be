"""How often a person's top and bottom get the right kind (tops, outerwear, dresses,
swimwear and underwear, bottoms), and the fit of the model that decides it (the pose
settings garment_kind_slope and garment_kind_bias; services/pose/garment_kinds.py).

    .venv/bin/python bench/garment_kinds.py [--out FILE]

The labels are bench/garment_kinds.json: the main person's garments of the public and dev
photos beside the checkout, read from their labels' notes. Each photo goes through the
pipeline's own people finding (detect, then pose); its first person's top and bottom
crops and whole outfit go to the classifier. Then, per garment:
- the old rule: the allowed kind the classifier believes most in on the crop alone;
- the two views with the model switched off (slope 1, no biases);
- the model fitted on every photo, and the same left out one photo at a time (each photo's
  garments from a fit on the others, so no photo grades its own fit): accuracy, which kinds
  are taken for which, and how well the probability says how often the kind is right;
- the model fitted on the other labelled set (public for dev, dev for public);
- the garment head (trained on clothing-small's photos of single garments) on the same
  views, alone and beside the classifier: on worn garments it is the weaker reading;
- what each review threshold would flag, left out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from _common import PROJECT_ROOT, header, write
from category_calibration import TESTDATA, reliability, reliability_table, review_rich_table, review_table
from rich.console import Console
from rich.table import Table

LABELS = PROJECT_ROOT / "bench" / "garment_kinds.json"
KINDS = ("clothing/tops", "clothing/outerwear", "clothing/dresses", "clothing/swimwear-underwear", "clothing/bottoms")
# The fit's L2 penalty on the biases: keeps a kind the labels rarely name near no bias.
PENALTY = 0.05
REVIEW_BELOW = (0.3, 0.4, 0.5, 0.6, 0.7)


def labelled_garments(labels: dict) -> list[dict]:
    """Each labelled garment of a photo's first person: the classifier's belief mass in each
    allowed kind on the crop alone and on the crop and the outfit together."""
    from services.detect.evidence import faces_on_people, may_show_people, person_matte
    from services.pose.garment_kinds import kind_mass
    from services.pose.garments import GARMENT_CATEGORIES, garment_views
    from services.pose.people import find_people
    from services.pose.settings import pose_settings
    from shared.domain.body import body_settings, garment_regions
    from shared.domain.classifier import best_within, imagenet_outputs
    from shared.domain.garment_head import garment_head
    from shared.infra.imageio import read_image

    rows = []
    for set_name in ("public", "dev"):
        for photo, kinds in labels[set_name].items():
            rgb = read_image(TESTDATA / set_name / photo)
            h, w = rgb.shape[:2]
            matte = person_matte(rgb)
            faces = faces_on_people(rgb, matte) if may_show_people(matte) else []
            people = find_people(rgb, matte, faces) if may_show_people(matte) else []
            if not people:
                continue  # taken for a product: no garments to grade
            regions = garment_regions(people[0], w, h, body_settings().visible)
            for garment, truth in kinds.items():
                if garment not in regions:
                    continue
                boxes = garment_views(garment, regions[garment], people[0], w, h, body_settings().visible)
                probs, features = imagenet_outputs(*(rgb[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes))
                allowed = GARMENT_CATEGORIES[garment]
                assert features is not None
                heads = [garment_head().category_probs(f[None]) for f in features]
                old_rule = best_within(probs[0], allowed, pose_settings().garment_min_score).category
                rows.append(
                    {"set": set_name, "photo": photo, "garment": garment, "truth": truth, "allowed": list(allowed),
                     "old_rule": old_rule, "crop": kind_mass(list(probs[:1]), allowed).tolist(),
                     "views": kind_mass(list(probs), allowed).tolist(),
                     # The garment head's (shared.domain.garment_head) probability of each
                     # allowed kind, averaged over the views (it knows no swimwear).
                     "head": np.mean([[p.get(kind, 0.0) for kind in allowed] for p in heads], axis=0).tolist()}
                )  # fmt: skip
    return rows


def predict(row: dict, slope: float, bias: dict, views: str = "views") -> tuple[str, float]:
    """The product's decision (services.pose.garment_kinds.kind_of) on the row's belief mass."""
    from services.pose.garment_kinds import kind_of

    kind = kind_of(np.array(row[views]), row["allowed"], slope, bias)
    return kind.category, kind.score


def fit(rows: list[dict], views: str = "views") -> tuple[float, dict]:
    """Slope and biases that maximise the likelihood of the labelled kinds."""
    from scipy.optimize import minimize

    from services.pose.garment_kinds import kind_probabilities

    def loss(params: np.ndarray) -> float:
        slope, bias = params[0], dict(zip(KINDS, params[1:]))
        nll = -sum(
            np.log(kind_probabilities(np.array(r[views]), r["allowed"], slope, bias)[r["allowed"].index(r["truth"])])
            for r in rows
        )
        return nll + PENALTY * float(np.sum(params[1:] ** 2))

    params = minimize(loss, np.r_[1.0, np.zeros(len(KINDS))], method="L-BFGS-B").x
    return float(params[0]), {kind: float(b) for kind, b in zip(KINDS, params[1:])}


def left_out(rows: list[dict], views: str = "views") -> list[tuple[str, float]]:
    """Each garment's kind and probability from a fit on the other photos."""
    answers: list[tuple[str, float]] = [("", 0.0)] * len(rows)
    for photo in sorted({r["photo"] for r in rows}):
        slope, bias = fit([r for r in rows if r["photo"] != photo], views)
        for i, r in enumerate(rows):
            if r["photo"] == photo:
                answers[i] = predict(r, slope, bias, views)
    return answers


def other_set_fits(rows: list[dict], views: str = "views") -> list[str]:
    """Each garment's kind from a fit on the other labelled set's photos (cross-fit)."""
    kinds = [""] * len(rows)
    for set_name in {r["set"] for r in rows}:
        slope, bias = fit([r for r in rows if r["set"] != set_name], views)
        for i, r in enumerate(rows):
            if r["set"] == set_name:
                kinds[i] = predict(r, slope, bias, views)[0]
    return kinds


def accuracy(rows: list[dict], kinds: list[str]) -> dict:
    right = [k == r["truth"] for r, k in zip(rows, kinds)]
    per = {g: [ok for r, ok in zip(rows, right) if r["garment"] == g] for g in ("top", "bottom")}
    return {"all": round(float(np.mean(right)), 3), **{g: f"{sum(v)}/{len(v)}" for g, v in per.items()}}


def main() -> None:
    from services.pose.settings import pose_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    record = header("garment_kinds")
    rows = labelled_garments(json.loads(LABELS.read_text()))
    for r in rows:
        r["both"] = ((np.array(r["views"]) + np.array(r["head"])) / 2).tolist()
    s = pose_settings()

    slope, bias = fit(rows)
    held_out = left_out(rows)
    kinds_left_out = [k for k, _ in held_out]
    right = np.array([k == r["truth"] for r, k in zip(rows, kinds_left_out)])
    scores = np.array([p for _, p in held_out])
    confusion: dict[str, int] = {}
    for r, k in zip(rows, kinds_left_out):
        key = f"{r['garment']}: {r['truth']} -> {k}"
        confusion[key] = confusion.get(key, 0) + 1
    record.update(
        garments=len(rows), photos=len({r["photo"] for r in rows}),
        slope=round(slope, 3), bias={k: round(b, 3) for k, b in bias.items()},
        accuracy={
            "crop, old rule": accuracy(rows, [r["old_rule"] for r in rows]),
            "crop and outfit, no model": accuracy(rows, [predict(r, 1.0, {})[0] for r in rows]),
            "model on the crop alone, left out": accuracy(rows, [k for k, _ in left_out(rows, "crop")]),
            "model, fitted on all": accuracy(rows, [predict(r, slope, bias)[0] for r in rows]),
            "model, left out": accuracy(rows, kinds_left_out),
            "model, fitted on the other set": accuracy(rows, other_set_fits(rows)),
            "garment head alone (clothing-small)": accuracy(rows, [r["allowed"][np.argmax(r["head"])] for r in rows]),
            "model on classifier and head together, left out": accuracy(rows, [k for k, _ in left_out(rows, "both")]),
            "settings now": accuracy(rows, [predict(r, s.garment_kind_slope, s.garment_kind_bias)[0] for r in rows]),
        },
        confusion_left_out=dict(sorted(confusion.items())),
        left_out=reliability(scores, right, unit="garments"), review=review_table(scores, right, REVIEW_BELOW),
        swimwear_called={
            "crop, old rule": sum(r["old_rule"] == KINDS[3] for r in rows),
            "model, left out": sum(k == KINDS[3] for k in kinds_left_out),
            "labelled": sum(r["truth"] == KINDS[3] for r in rows),
        },
        rows=rows,
    )  # fmt: skip

    console = Console()
    console.print(f"{len(rows)} garments on {record['photos']} photos; fit: slope {slope:.3f}, biases {record['bias']}")
    table = Table(title="kind right")
    for column in ("rule", "all", "top", "bottom"):
        table.add_column(column)
    for name, acc in record["accuracy"].items():
        table.add_row(name, str(acc["all"]), acc["top"], acc["bottom"])
    console.print(table)
    console.print(f"called swimwear: {record['swimwear_called']}")
    console.print("left out, truth -> kind:", record["confusion_left_out"])
    console.print(reliability_table("left out", record["left_out"], unit="garments"))
    console.print(review_rich_table("review below a probability (left out one photo at a time)", record["review"]))
    write("garment_kinds", record, args.out)


if __name__ == "__main__":
    main()

"""Fitting the product's confidence (shared.domain.confidence) on labelled photos, and
measuring each fit on photos it was not fitted on.

Rows come from `catalog eval` reports: `products` (each product photo's first item: the
raw share of the evidence its category holds, and whether the label accepts it) and
`colours` (each labelled colour's measures and whether its family is a word the label
accepts). A flag threshold is chosen for a stated precision on the rows fitted on; the
figures that count are those of rows left out of the fit:
- across sets: fitted on every other labelled set, measured on this one;
- within one set: fitted on the other photos, measured on each photo's rows.
Either way the fit never sees the photo it scores (rows are grouped by photo).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from shared.domain.confidence import COLOUR_FEATURES, ColourConfidence, ProductConfidence, logit

PRODUCT_PRECISION = 0.95  # the category of an unflagged product is right this often
COLOUR_PRECISION = 0.92  # the family word of an unflagged colour is one a person accepts this often
# A team checks at most this share of the items: where a flag cannot reach its precision
# within it, it flags the least sure items up to it, and the report says what it reached.
MAX_FLAGGED = 0.35
COLOUR_C = 1.0  # L2 strength of the colour regression: a few measures, tens of colours per set


def flag_threshold(
    scores: np.ndarray,
    right: np.ndarray,
    precision: float,
    always: np.ndarray | None = None,
    max_flagged: float = MAX_FLAGGED,
) -> float:
    """The lowest probability to flag below so that the rest are right at least `precision`
    of the time, flagging at most `max_flagged` of the rows (the least sure ones) where the
    precision is out of reach within that load. The threshold lies midway between two
    scores, so it does not sit on a fitted photo. Rows in `always` are flagged whatever
    their score and count towards the load."""
    always = np.zeros(len(scores), bool) if always is None else always
    levels, allowed = np.unique(scores[~always]), 0.0
    for i, level in enumerate(levels):
        kept = (scores >= level) & ~always
        if (~kept).mean() > max_flagged:
            return allowed
        allowed = float((level + levels[i - 1]) / 2) if i else 0.0
        if right[kept].mean() >= precision:
            return allowed
    return 1.0 if max_flagged >= 1 else allowed


def platt_fit(share: np.ndarray, right: np.ndarray) -> tuple[float, float]:
    """Slope and offset of P(right) = sigmoid(slope * logit(share) + offset), by maximum
    likelihood (both outcomes must occur)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1e6).fit(logit(share)[:, None], right)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def fit_products(
    rows: Sequence[dict], precision: float = PRODUCT_PRECISION, max_flagged: float = MAX_FLAGGED
) -> ProductConfidence:
    """Platt scaling of the category's share of the evidence, and its flag threshold."""
    share = np.array([r["share"] for r in rows], float)
    right = np.array([r["right"] for r in rows], bool)
    outside = np.array([r["outside_catalog"] for r in rows], bool)  # always flagged
    if len(set(right)) < 2:  # nothing to tell apart: trust all or flag all
        return ProductConfidence(1.0, 0.0, flag_below=0.0 if right.all() else 1.0)
    fitted = ProductConfidence(*platt_fit(share, right), flag_below=0.0)
    threshold = flag_threshold(fitted.probability(share), right, precision, outside, max_flagged)
    return ProductConfidence(fitted.slope, fitted.offset, threshold)


def product_flags(fitted: ProductConfidence, rows: Sequence[dict]) -> np.ndarray:
    share = np.array([r["share"] for r in rows], float)
    outside = np.array([r["outside_catalog"] for r in rows], bool)
    return outside | (fitted.probability(share) < fitted.flag_below)


def fit_colours(
    rows: Sequence[dict], precision: float = COLOUR_PRECISION, max_flagged: float = MAX_FLAGGED
) -> ColourConfidence:
    """A logistic regression of the family being right on the colour's measures, and its
    flag threshold."""
    from sklearn.linear_model import LogisticRegression

    x = np.array([r["features"] for r in rows], float)
    right = np.array([r["agrees"] for r in rows], bool)
    if len(set(right)) < 2:
        return ColourConfidence((0.0,) * len(COLOUR_FEATURES), 0.0, flag_below=0.0 if right.all() else 1.0)
    model = LogisticRegression(C=COLOUR_C).fit(x, right)
    fitted = ColourConfidence(tuple(float(c) for c in model.coef_[0]), float(model.intercept_[0]), flag_below=0.0)
    threshold = flag_threshold(fitted.probability(x), right, precision, max_flagged=max_flagged)
    return ColourConfidence(fitted.coef, fitted.intercept, threshold)


def colour_flags(fitted: ColourConfidence, rows: Sequence[dict]) -> np.ndarray:
    return fitted.probability(np.array([r["features"] for r in rows], float)) < fitted.flag_below


def measured(flags: np.ndarray, right: np.ndarray) -> dict:
    """What a team that checks the flagged items and trusts the rest gets."""
    kept = right[~flags]
    return {
        "items": len(right),
        "flagged": round(float(flags.mean()), 3) if len(flags) else None,
        "right_unflagged": round(float(kept.mean()), 3) if len(kept) else None,
        "right_all": round(float(right.mean()), 3) if len(right) else None,
    }


Fit = Callable[[Sequence[dict]], Any]
Flags = Callable[[Any, Sequence[dict]], np.ndarray]


def held_out_flags(rows: Sequence[dict], fit: Fit, flags: Flags) -> np.ndarray:
    """Each row's flag from a fit on the other photos' rows (leave one photo out)."""
    out = np.zeros(len(rows), bool)
    photos = [r["photo"] for r in rows]
    for photo in dict.fromkeys(photos):
        mine = [i for i, p in enumerate(photos) if p == photo]
        fitted = fit([r for r, p in zip(rows, photos) if p != photo])
        out[mine] = flags(fitted, [rows[i] for i in mine])
    return out


PIECES: dict[str, tuple[Fit, Flags, str]] = {
    "products": (fit_products, product_flags, "right"),
    "colours": (fit_colours, colour_flags, "agrees"),
}


def cross_fit(sets: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, dict]]:
    """For each fitted piece and each labelled set, the flags and how right the unflagged
    are, fitted on the other sets (or, with one set, on its other photos)."""
    report: dict[str, dict[str, dict]] = {}
    for piece, (fit, flags, right_key) in PIECES.items():
        report[piece] = {}
        for name, data in sets.items():
            rows = data[piece]
            right = np.array([r[right_key] for r in rows], bool)
            others = [r for other, other_data in sets.items() if other != name for r in other_data[piece]]
            if others:
                fitted = fit(others)
                flagged = flags(fitted, rows)
                fitted_on = " + ".join(other for other in sets if other != name)
            else:
                flagged = held_out_flags(rows, fit, flags)
                fitted_on = f"{name}, its other photos"
            report[piece][name] = {"fitted_on": fitted_on, **measured(flagged, right)}
    return report


def fitted_file(sets: dict[str, dict[str, list[dict]]]) -> dict:
    """The confidence file's contents, fitted on every row of every set."""
    products = [r for data in sets.values() for r in data["products"]]
    colours = [r for data in sets.values() for r in data["colours"]]
    product, colour = fit_products(products), fit_colours(colours)
    names = ", ".join(f"{name} ({len({r['photo'] for r in data['products'] + data['colours']})} photos)"
                      for name, data in sets.items())  # fmt: skip
    return {
        "fitted_on": f"{len(products)} products and {len(colours)} colours of the labelled sets {names}",
        "product": {"slope": round(product.slope, 4), "offset": round(product.offset, 4),
                    "flag_below": round(product.flag_below, 4), "precision": PRODUCT_PRECISION},
        "colour": {"features": list(COLOUR_FEATURES), "coef": [round(c, 4) for c in colour.coef],
                   "intercept": round(colour.intercept, 4), "flag_below": round(colour.flag_below, 4),
                   "precision": COLOUR_PRECISION},
        "max_flagged": MAX_FLAGGED,
    }  # fmt: skip

"""How sure the product is of a product's category and of an item's colour, as
probabilities fitted on labelled photos, and below which probability an item is flagged.

The fit is data, shared/domain/data/confidence.json, written by scripts/fit_confidence.py
from `catalog eval` reports (it says which photos it was fitted on):
- product: the category's share s of the evidence, Platt-scaled to
  sigmoid(slope * logit(s) + offset);
- colour: a logistic regression on a few measures of the colour (COLOUR_FEATURES);
- each `flag_below`: the lowest probability at which the unflagged items of the photos
  fitted on were right at least `precision` of the time (the stated precision).
`catalog eval` reports each fitted piece cross-fitted: fitted on one labelled set and
measured on another (catalog/crossfit.py), so no photo grades a fit it was in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from shared.domain.records import ColorResult

CONFIDENCE_FILE = Path(__file__).parent / "data" / "confidence.json"

# What the colour probability reads: how sure the measurement is. How much of the item its
# dominant colour covers (texture, shading and prints spread a colour over many shades),
# whether that colour lies on the border of two families (near_names), whether it was
# measured on a wider area than the item's own pixels, on one of several people, or is a
# skin tone on a worn garment. (How light, how saturated and whether worn were tried too:
# on the public and dev photos they favoured the opposite direction on each set, so they
# would tell the fitted photos apart, not new ones. The last two favour the same direction
# on both: right for 0.79 and 0.33 of public's colours without and with a skin tone,
# 0.73 and 0.43 of dev's.)
COLOUR_FEATURES = ("dominant_share", "on_border", "from_wider_area", "in_group", "skin_toned")


def colour_features(color: ColorResult) -> list[float]:
    """The colour's measures, in COLOUR_FEATURES order, each 0..1."""
    share = color.palette[0].share if color.palette else 1.0
    flags = (color.near_names, color.from_wider_area, color.in_group, color.skin_toned)
    return [float(share), *(float(bool(flag)) for flag in flags)]


def logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, float), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, float)))


@dataclass(frozen=True)
class ProductConfidence:
    slope: float
    offset: float
    flag_below: float

    def probability(self, share: np.ndarray | float) -> np.ndarray:
        """The probability that a category holding `share` of the evidence is right."""
        return sigmoid(self.slope * logit(share) + self.offset)

    def share(self, probability: np.ndarray | float) -> np.ndarray:
        """The share of the evidence a probability was made from (the inverse)."""
        return sigmoid((logit(probability) - self.offset) / self.slope)


@dataclass(frozen=True)
class ColourConfidence:
    coef: tuple[float, ...]  # one per COLOUR_FEATURES
    intercept: float
    flag_below: float

    def probability(self, features: np.ndarray | list[float]) -> np.ndarray:
        """The probability that a person names the colour by its family word, for one row
        of COLOUR_FEATURES or an n x features array."""
        return sigmoid(np.asarray(features, float) @ np.asarray(self.coef) + self.intercept)


@dataclass(frozen=True)
class Confidence:
    product: ProductConfidence
    colour: ColourConfidence


def confidence_from(data: dict) -> Confidence:
    if tuple(data["colour"]["features"]) != COLOUR_FEATURES:
        raise ValueError(f"{CONFIDENCE_FILE.name} reads {data['colour']['features']}, not {COLOUR_FEATURES}")
    p, c = data["product"], data["colour"]
    return Confidence(
        product=ProductConfidence(p["slope"], p["offset"], p["flag_below"]),
        colour=ColourConfidence(tuple(c["coef"]), c["intercept"], c["flag_below"]),
    )


@cache
def confidence() -> Confidence:
    return confidence_from(json.loads(CONFIDENCE_FILE.read_text()))

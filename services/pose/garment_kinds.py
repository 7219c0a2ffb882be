"""Which kind of garment a top or a bottom is (tops, outerwear, dresses, swimwear and
underwear, bottoms): the classifier's belief in each kind the garment allows, from the
garment's own crop and from the person's whole outfit (a dress or a suit shows as one only
whole), made a probability by a model fitted on labelled photos.

The classifier's classes are biased on crops of worn clothes: a torso in a fitted top reads
as a swimsuit or a leotard ("maillot"), legs in shorts as swimming trunks, and the half of a
dress that a top's or a bottom's crop shows as a top or a skirt. So each kind's share s of
the evidence becomes p proportional to (s + EPS) ** slope * exp(bias[kind]) (settings
garment_kind_slope, garment_kind_bias; bench/garment_kinds.py fits them and reports the
accuracy left out one photo at a time). Slope 1 and no biases keep the evidence's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.pose.settings import pose_settings
from shared.domain.records import CategoryScore
from shared.domain.taxonomy import category_scores

# Keeps a kind the classifier gives no belief at all in within the model's reach.
EPS = 0.02


def kind_mass(views: Sequence[np.ndarray], allowed: Sequence[str]) -> np.ndarray:
    """The classifier's belief in each allowed kind, the mean over the views' softmaxes."""
    per_view = [dict(category_scores(probs)) for probs in views]
    return np.array([np.mean([scores.get(kind, 0.0) for scores in per_view]) for kind in allowed])


def kind_probabilities(mass: np.ndarray, allowed: Sequence[str], slope: float, bias: dict[str, float]) -> np.ndarray:
    """The probability of each allowed kind from its belief mass: softmax of slope * log(share
    + EPS) + bias[kind], the share being the kind's part of the allowed kinds' mass."""
    share = mass / mass.sum() if mass.sum() > 0 else np.full(len(allowed), 1 / len(allowed))
    z = slope * np.log(share + EPS) + np.array([bias.get(kind, 0.0) for kind in allowed])
    e = np.exp(z - z.max())
    return e / e.sum()


def garment_kind(views: Sequence[np.ndarray], allowed: Sequence[str]) -> CategoryScore:
    """The kind of a top or a bottom seen in these views, by the fitted model."""
    s = pose_settings()
    return kind_of(kind_mass(views, allowed), allowed, s.garment_kind_slope, s.garment_kind_bias)


def kind_of(mass: np.ndarray, allowed: Sequence[str], slope: float, bias: dict[str, float]) -> CategoryScore:
    """The most probable kind and its probability. Where the classifier holds less than
    garment_min_score in all the allowed kinds together it has no opinion, and the first,
    most common kind is kept, with the probability the model gives it."""
    p = kind_probabilities(mass, allowed, slope, bias)
    best = int(np.argmax(p)) if mass.sum() >= pose_settings().garment_min_score else 0
    return CategoryScore(category=allowed[best], score=round(float(p[best]), 4))

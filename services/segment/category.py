"""A product's category from two signals: the image classifier (ImageNet folded into the
taxonomy) and the words printed on it (OCR and the pack lexicon, services.segment.pack_words).

Each category's evidence is the classifier's share plus `weight` times the text's share,
where weight is the setting's text_weight plus the classifier's belief in a container
(a packet, carton, bottle or tube says how a product is packed, not what it is). OCR runs
only where that sum can change the answer: the image's lead over the next category is
below weight, or the image names no category at all.

The chosen category's share of the evidence is then calibrated into the probability that
it is right (settings: category_slope, category_offset), and the other categories share
what is left in proportion to their evidence.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from services.segment.ocr import read_lines
from services.segment.pack_words import text_categories
from services.segment.settings import segment_settings
from shared.domain.classifier import classify
from shared.domain.records import CategoryScore, Classification
from shared.domain.taxonomy import BACKGROUND, category_scores, imagenet_categories

log = logging.getLogger(__name__)

PACK_IMAGENET = (
    "packet", "carton", "pill bottle", "lotion", "sunscreen", "water bottle", "pop bottle", "beer bottle",
    "wine bottle", "whiskey jug", "milk can", "envelope", "book jacket", "menu", "comic book", "crossword puzzle",
    "Band Aid", "paper towel", "toilet tissue", "soap dispenser", "hair spray", "plastic bag",
)  # fmt: skip


@dataclass
class Naming:
    classification: Classification
    text: list[str] = field(default_factory=list)  # the lines read, largest print first; empty if OCR did not run


@cache
def _pack_indices() -> np.ndarray:
    names = imagenet_categories()
    return np.array([names.index(name) for name in PACK_IMAGENET])


def text_weight(probs: np.ndarray) -> float:
    return segment_settings().text_weight + float(probs[_pack_indices()].sum())


def text_can_change(probs: np.ndarray, weight: float) -> bool:
    """Whether some category could overtake the image's best with the text's full weight."""
    items = sorted((s for c, s in category_scores(probs) if c != BACKGROUND), reverse=True) + [0.0, 0.0]
    return items[0] < segment_settings().item_min_score or items[0] - items[1] < weight


def name_product(probs: np.ndarray, item_rgb: np.ndarray) -> Naming:
    """The category of one product from its ImageNet softmax and, where it can change the
    answer, the text on the item's crop; its score calibrated."""
    naming = _evidence(probs, item_rgb)
    naming.classification = calibrated(naming.classification)
    return naming


def calibrated(c: Classification) -> Classification:
    """The chosen category's share s of the evidence as the probability p that it is right,
    sigmoid(slope * logit(s) + offset); each other category of the top 3 gets its share of
    the rest of the evidence times 1 - p, so the scores still sum to at most 1."""
    s = segment_settings()
    share = min(max(c.score, 1e-4), 1 - 1e-4)
    p = float(platt(share, s.category_slope, s.category_offset))
    rest = (1 - p) / (1 - share)
    top3 = [CategoryScore(category=c.category, score=round(float(p), 4))] + [
        CategoryScore(category=other.category, score=round(float(other.score * rest), 4)) for other in c.top3[1:]
    ]
    return c.model_copy(update={"score": top3[0].score, "top3": top3})


def platt(share: np.ndarray | float, slope: float, offset: float) -> np.ndarray:
    """sigmoid(slope * logit(share) + offset), for one share or an array of them."""
    share = np.clip(share, 1e-4, 1 - 1e-4)
    return 1.0 / (1.0 + np.exp(-(slope * np.log(share / (1 - share)) + offset)))


def _evidence(probs: np.ndarray, item_rgb: np.ndarray) -> Naming:
    """The category as the evidence's largest share: the classifier's alone, or with the
    text's where it can change the answer."""
    min_score = segment_settings().item_min_score
    image = classify(probs, min_score)
    weight = text_weight(probs)
    if not text_can_change(probs, weight):
        return Naming(image)
    try:
        lines = read_lines(item_rgb)
    except Exception:  # the text is extra evidence: without it the image's answer stands
        log.warning("OCR failed on a product; its category is the classifier's", exc_info=True)
        return Naming(image)
    text = [line.text for line in lines]
    said = dict(text_categories([(line.text, line.height / lines[0].height) for line in lines]))
    if not said:
        return Naming(image, text)
    evidence = dict(category_scores(probs))
    for category, share in said.items():
        evidence[category] = evidence.get(category, 0.0) + weight * share
    total = 1.0 + weight  # image shares and text shares each sum to 1
    ranked = sorted(((c, s / total) for c, s in evidence.items()), key=lambda cs: -cs[1])
    items = [cs for cs in ranked if cs[0] != BACKGROUND]
    chosen = items[0] if items[0][1] >= min_score / total else (BACKGROUND, dict(ranked).get(BACKGROUND, 0.0))
    top3 = [chosen] + [cs for cs in ranked if cs[0] != chosen[0]][:2]
    return Naming(
        Classification(
            category=chosen[0],
            score=round(chosen[1], 4),
            top3=[CategoryScore(category=c, score=round(s, 4)) for c, s in top3],
            imagenet_top=image.imagenet_top,
        ),
        text,
    )

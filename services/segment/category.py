"""A product's category from two signals: the image classifier (ImageNet folded into the
taxonomy) and the words printed on it (OCR and the pack lexicon, services.segment.pack_words).

Each category's evidence is the classifier's share plus `weight` times the text's share,
where weight is the setting's text_weight plus the classifier's belief in a container
(a packet, carton, bottle or tube says how a product is packed, not what it is). OCR runs
only where that sum can change the answer: the image's lead over the next category is
below weight, or the image names no category at all.

Where the classifier's fold puts a product among the clothes (or in swimwear or
accessories/other, where ImageNet's few garment classes leak skirts, trousers and gowns),
the garment head (shared.domain.garment_head, trained on photos of single garments) splits
that garment evidence among tops, outerwear, bottoms and dresses (and hats and shoes) by
its own probabilities; see image_evidence.

The chosen category's share of the evidence is then calibrated into the probability that
it is right (shared.domain.confidence), and the other categories share
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
from shared.domain.confidence import ProductConfidence, confidence
from shared.domain.garment_head import garment_head
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


# What the fold calls a product for the garment head to look at it, and the categories the
# evidence of these is shared among by the head's probabilities.
GARMENT_EVIDENCE = (
    "clothing/tops", "clothing/outerwear", "clothing/bottoms", "clothing/dresses",
    "clothing/swimwear-underwear", "accessories/other",
)  # fmt: skip
SHOE_KINDS = ("shoes/sneakers", "shoes/boots", "shoes/sandals", "shoes/formal")


def image_evidence(probs: np.ndarray, features: np.ndarray | None) -> list[tuple[str, float]]:
    """The image's share of belief per category, highest first: the classifier's fold, or,
    where the fold's best is one of GARMENT_EVIDENCE and the garment head gives its best
    category at least its `sure` probability, the fold with the GARMENT_EVIDENCE
    categories' summed share handed out by the head's probabilities: to its clothing kinds,
    to hats, and to the fold's likeliest shoe kind (the head does not tell shoes apart).
    The shares still sum to 1. A head that is unsure (a print pouch it half takes for a
    shoe) leaves the fold as it is."""
    scores = category_scores(probs)
    if features is None:
        return scores
    chosen = classify(probs, segment_settings().item_min_score, scores).category
    if chosen not in GARMENT_EVIDENCE:
        return scores
    head = garment_head()
    said = head.category_probs(features)
    if max(said.values()) < head.sure:
        return scores
    evidence = dict(scores)
    mass = sum(evidence.pop(c, 0.0) for c in GARMENT_EVIDENCE)
    shoe = max(SHOE_KINDS, key=lambda c: evidence.get(c, 0.0))
    for category, p in said.items():
        target = shoe if category == "shoes" else category
        evidence[target] = evidence.get(target, 0.0) + mass * p
    return sorted(((c, s) for c, s in evidence.items() if s > 0), key=lambda cs: -cs[1])


def text_can_change(probs: np.ndarray, weight: float, scores: list[tuple[str, float]] | None = None) -> bool:
    """Whether some category could overtake the image's best with the text's full weight."""
    scores = category_scores(probs) if scores is None else scores
    items = sorted((s for c, s in scores if c != BACKGROUND), reverse=True) + [0.0, 0.0]
    return items[0] < segment_settings().item_min_score or items[0] - items[1] < weight


def name_product(
    probs: np.ndarray, item_rgb: np.ndarray, features: np.ndarray | None = None, read_text: bool = False
) -> Naming:
    """The category of one product from its ImageNet softmax (and the garment head on the
    pooled features of the same pass, where given) and, where it can change the answer,
    the text on the item's crop; its score calibrated. With read_text, the text is read
    (and kept) even where it cannot change the answer: a listing's words are checked
    against it."""
    naming = _evidence(probs, item_rgb, features, read_text)
    naming.classification = calibrated(naming.classification)
    return naming


def calibrated(c: Classification) -> Classification:
    """The chosen category's share s of the evidence as the probability p that it is right,
    sigmoid(slope * logit(s) + offset); each other category of the top 3 gets its share of
    the rest of the evidence times 1 - p, so the scores still sum to at most 1."""
    s, fitted = segment_settings(), confidence().product
    if s.category_slope is not None and s.category_offset is not None:
        fitted = ProductConfidence(s.category_slope, s.category_offset, fitted.flag_below)
    share = min(max(c.score, 1e-4), 1 - 1e-4)
    p = float(fitted.probability(share))
    rest = (1 - p) / (1 - share)
    top3 = [CategoryScore(category=c.category, score=round(float(p), 4))] + [
        CategoryScore(category=other.category, score=round(float(other.score * rest), 4)) for other in c.top3[1:]
    ]
    return c.model_copy(update={"score": top3[0].score, "top3": top3})


def _evidence(
    probs: np.ndarray, item_rgb: np.ndarray, features: np.ndarray | None = None, read_text: bool = False
) -> Naming:
    """The category as the evidence's largest share: the image's alone, or with the
    text's where it can change the answer."""
    min_score = segment_settings().item_min_score
    scores = image_evidence(probs, features)
    image = classify(probs, min_score, scores)
    weight = text_weight(probs)
    can_change = text_can_change(probs, weight, scores)
    if not (can_change or read_text):
        return Naming(image)
    try:
        lines = read_lines(item_rgb)
    except Exception:  # the text is extra evidence: without it the image's answer stands
        log.warning("OCR failed on a product; its category is the classifier's", exc_info=True)
        return Naming(image)
    text = [line.text for line in lines]
    if not can_change:  # read for the listing only: the image's answer stands as it is
        return Naming(image, text)
    said = dict(text_categories([(line.text, line.height / lines[0].height) for line in lines]))
    if not said:
        return Naming(image, text)
    evidence = dict(scores)
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

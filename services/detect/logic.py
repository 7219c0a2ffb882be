"""Person-or-product decision and classification into the catalog taxonomy."""

from __future__ import annotations

import numpy as np

from services.pose.logic import estimate_people
from shared.models import EFFICIENTNET, efficientnet, selfie_segmenter
from shared.schemas import CategoryScore, Classification, Detection, Person
from shared.taxonomy import BACKGROUND, HEADWEAR_IMAGENET, category_scores, imagenet_categories

# Share of a body's torso the person matte must cover for the body to count.
TORSO_COVERAGE = 0.5
# A hat must hold at least this much of the classifier's belief on the head region.
HEADWEAR_MIN_SCORE = 0.2
# background-other sums ~840 ImageNet classes, so it wins by sheer count on many product
# shots; a catalog category is preferred as soon as it holds a meaningful share.
ITEM_MIN_SCORE = 0.1
# Below this the classifier has no opinion on which kind of garment a crop shows.
GARMENT_MIN_SCORE = 0.05


def detect(rgb: np.ndarray) -> Detection:
    """A photo is a person photo when BlazePose finds a body (its person detector, then
    landmarks with a shoulder and a face or hip clearly seen) AND the person matte covers
    that body's torso. BlazePose alone sometimes places a second, phantom body at the
    frame's edge; the matte alone is too coarse to count or separate people. The
    landmarks are kept, so the pose stage does not run the model again."""
    candidates = estimate_people(rgb)
    if not candidates:
        return Detection(is_person=False, people=[])
    person_matte = selfie_segmenter().process(np.ascontiguousarray(rgb)).segmentation_mask
    people = [p for p in candidates if _torso_coverage(person_matte, p) >= TORSO_COVERAGE]
    return Detection(is_person=bool(people), people=people)


def _torso_coverage(person_matte: np.ndarray, person: Person) -> float:
    """Mean person-matte value inside the shoulder-hip quadrilateral."""
    import cv2

    points = {k.name: (k.x, k.y) for k in person.keypoints}
    quad = np.array([points[n] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")], np.int32)
    mask = np.zeros(person_matte.shape, np.uint8)
    cv2.fillPoly(mask, [quad], 1)
    return float(person_matte[mask > 0].mean()) if mask.any() else 0.0


def _to_square(rgb: np.ndarray, fill: int = 255) -> np.ndarray:
    """Pad to a square instead of centre-cropping, so a product is never cut off."""
    h, w = rgb.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    return np.pad(rgb, ((top, side - h - top), (left, side - w - left), (0, 0)), constant_values=fill)


def imagenet_probs(rgb: np.ndarray) -> np.ndarray:
    import cv2
    import torch

    size = EFFICIENTNET.input_size
    x = cv2.resize(_to_square(rgb), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    x = (x - 127.0) / 128.0
    model = efficientnet()
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(torch.from_numpy(x).permute(2, 0, 1)[None].to(device))
    return torch.softmax(logits[0], dim=0).cpu().numpy()


def classify(rgb: np.ndarray) -> Classification:
    """Fold the ImageNet softmax into catalog categories (summed per category); the
    result is background-other only when no catalog category holds ITEM_MIN_SCORE."""
    probs = imagenet_probs(rgb)
    scores = category_scores(probs)
    items = [(c, s) for c, s in scores if c != BACKGROUND]
    chosen = items[0] if items and items[0][1] >= ITEM_MIN_SCORE else (BACKGROUND, dict(scores).get(BACKGROUND, 0.0))
    ranked = [chosen] + [cs for cs in scores if cs[0] != chosen[0]]
    names = imagenet_categories()
    top_classes = np.argsort(probs)[::-1][:5]
    return Classification(
        category=chosen[0],
        score=round(chosen[1], 4),
        top3=[CategoryScore(category=c, score=round(s, 4)) for c, s in ranked[:3]],
        imagenet_top=[CategoryScore(category=names[i], score=round(float(probs[i]), 4)) for i in top_classes],
    )


def best_within(rgb: np.ndarray, allowed: tuple[str, ...]) -> CategoryScore:
    """The most likely of a few allowed categories (a garment crop is known to be
    clothing; the question is which kind). When the classifier has no real opinion,
    the first, most common one is kept."""
    scores = dict(category_scores(imagenet_probs(rgb)))
    best = max(allowed, key=lambda c: scores.get(c, 0.0))
    if scores.get(best, 0.0) < GARMENT_MIN_SCORE:
        best = allowed[0]
    return CategoryScore(category=best, score=round(scores.get(best, 0.0), 4))


def headwear_score(rgb: np.ndarray) -> float:
    """Classifier belief that a head region holds a hat, cap or helmet."""
    probs = imagenet_probs(rgb)
    return float(sum(probs[i] for i in HEADWEAR_IMAGENET))

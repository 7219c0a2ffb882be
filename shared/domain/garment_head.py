"""The garment head: a logistic regression on EfficientNet-Lite2's pooled features (the
same forward pass as the ImageNet softmax), trained on clothing-small's photos of single
garments by scripts/garment_head.py. ImageNet has few garment classes and leaks clothes
into swimwear and accessories; the head tells tops, outerwear, bottoms and dresses apart
(and hats and shoes) where the folded ImageNet evidence says "a garment".

The file, shared/domain/data/garment_head.npz, holds the head's coefficients, intercepts,
class names, the feature standardisation, and `sure`: the probability the head must give a
catalog category to be used (on the dataset's validation split, 95 % of the photos it was
that sure of were filed right).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

HEAD_FILE = Path(__file__).parent / "data" / "garment_head.npz"
HEAD_SHA256 = HEAD_FILE.with_name(HEAD_FILE.name + ".sha256")

# clothing-small's classes in the catalog taxonomy (shoes: the kind is not labelled).
CLASS_CATEGORY: dict[str, str] = {
    "t-shirt": "clothing/tops",
    "longsleeve": "clothing/tops",
    "shirt": "clothing/tops",
    "outwear": "clothing/outerwear",
    "pants": "clothing/bottoms",
    "shorts": "clothing/bottoms",
    "skirt": "clothing/bottoms",
    "dress": "clothing/dresses",
    "hat": "accessories/hats",
    "shoes": "shoes",
}


@dataclass(frozen=True)
class GarmentHead:
    classes: tuple[str, ...]
    coef: np.ndarray  # classes x 1280
    intercept: np.ndarray  # classes
    mean: np.ndarray  # 1280
    scale: np.ndarray  # 1280
    sure: float

    def class_probs(self, features: np.ndarray) -> np.ndarray:
        """The head's softmax over its classes for each row of pooled features (N x classes)."""
        z = ((np.atleast_2d(features) - self.mean) / self.scale) @ self.coef.T + self.intercept
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def category_probs(self, features: np.ndarray) -> dict[str, float]:
        """One crop's head probabilities summed per catalog category (shoes as "shoes")."""
        out: dict[str, float] = {}
        for name, p in zip(self.classes, self.class_probs(features)[0]):
            out[CLASS_CATEGORY[name]] = out.get(CLASS_CATEGORY[name], 0.0) + float(p)
        return out


def file_sha256(path: Path = HEAD_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def recorded_sha256() -> str:
    return HEAD_SHA256.read_text().split()[0]


@cache
def garment_head() -> GarmentHead:
    if file_sha256() != recorded_sha256():
        raise ValueError(f"{HEAD_FILE.name} does not match its recorded sha256: run scripts/garment_head.py")
    with np.load(HEAD_FILE) as data:
        return GarmentHead(
            classes=tuple(str(c) for c in data["classes"]),
            coef=data["coef"].astype(np.float64),
            intercept=data["intercept"].astype(np.float64),
            mean=data["mean"].astype(np.float64),
            scale=data["scale"].astype(np.float64),
            sure=float(data["sure"]),
        )

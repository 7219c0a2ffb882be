"""A style guide's packshot rule: a product's cutout placed on a fixed canvas at a fixed
fill, centred or standing on a common baseline, so every product of a catalog shows at
the same size and height."""

from __future__ import annotations

import numpy as np

from shared.domain.records import ITEM_ALPHA
from shared.domain.styles import Packshot
from shared.infra.imageio import resize_to


def packshot(rgba: np.ndarray, rule: Packshot) -> np.ndarray:
    """The canvas (RGBA, transparent around the item): the item's solid pixels' box scaled
    so its longer side is `fill` percent of the canvas's shorter side, centred across, and
    down centred or with its bottom on the baseline."""
    import cv2

    width, height = rule.size
    ys, xs = np.nonzero(rgba[..., 3] > ITEM_ALPHA * 255)
    if not len(xs):  # nothing solid: the whole cutout stands for the item
        ys, xs = np.array([0, rgba.shape[0] - 1]), np.array([0, rgba.shape[1] - 1])
    bx0, by0, bx1, by1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    # Canvas pixels per cutout pixel.
    scale = rule.fill / 100 * min(width, height) / max(bx1 - bx0, by1 - by0)
    ax = ay = scale
    if scale < 1:  # shrink by area first (no aliasing); what is left of the scale is near 1
        h, w = rgba.shape[:2]
        rgba = resize_to(rgba, (max(1, round(w * scale)), max(1, round(h * scale))))
        fx, fy = rgba.shape[1] / w, rgba.shape[0] / h
        bx0, bx1, by0, by1 = bx0 * fx, bx1 * fx, by0 * fy, by1 * fy
        ax, ay = scale / fx, scale / fy
    # Canvas = a * cutout + t, on each axis.
    tx = width / 2 - ax * (bx0 + bx1) / 2
    ty = height / 2 - ay * (by0 + by1) / 2 if rule.align == "center" else rule.baseline / 100 * height - ay * by1
    matrix = np.array([[ax, 0, tx], [0, ay, ty]], np.float32)
    canvas = cv2.warpAffine(rgba, matrix, (width, height), flags=cv2.INTER_CUBIC, borderValue=(0, 0, 0, 0))
    return np.asarray(canvas)

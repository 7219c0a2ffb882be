"""A product's matte completed from its plain background.

ISNet picks what stands out most. A cream knit on a white sweep stands out less than
the print on its front, and the matte can hold the print alone. Where the photo's edge
is one plain colour, what differs from that colour is the product (a classic
packshot cut-out); when that region is much larger than the matte inside it, the matte
missed most of the item and the region is added to it.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.color import deltaE_ciede2000, rgb2lab

from services.segment.settings import segment_settings
from shared.domain.records import ITEM_ALPHA

WORK_SIDE = 256  # the background is judged on a small copy: it is plain, and this is fast
EDGE = 3  # pixels of the small copy's border that sample the background
CLOSE_GAPS = 9  # pixels of the small copy (3.5% of its side)


def _border(values: np.ndarray) -> np.ndarray:
    """The values within EDGE pixels of the image's edge, one row per pixel."""
    edge = np.ones(values.shape[:2], bool)
    edge[EDGE:-EDGE, EDGE:-EDGE] = False
    return values[edge]


def completed_on_plain_background(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The matte, or, on a plain background where the matte holds under 1/missed_share of
    what differs from that background around it, the matte with that region added."""
    s = segment_settings()
    h, w = alpha.shape
    scale = WORK_SIDE / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    lab = rgb2lab(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))
    background = np.median(_border(lab), axis=0)
    distance = deltaE_ciede2000(lab, np.broadcast_to(background, lab.shape))
    if (_border(distance) < s.plain_edge_delta_e).mean() < s.plain_edge_share:
        return alpha  # a scene or a busy backdrop: nothing to compare with
    item = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA) > ITEM_ALPHA
    if not item.any():
        return alpha
    differs = (distance > s.stands_out_delta_e).astype(np.uint8)
    differs = cv2.morphologyEx(differs, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # lone noisy pixels
    _, parts = cv2.connectedComponents(differs)
    touched = np.unique(parts[item & (parts > 0)])
    region = np.isin(parts, touched[touched > 0])
    if region.sum() < s.missed_share * item.sum():
        return alpha
    # The item's own faint parts (a knit's ribbing) fall just under the difference: small
    # gaps are closed and holes filled, so the cut-out is whole.
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (CLOSE_GAPS, CLOSE_GAPS))
    region = binary_fill_holes(cv2.morphologyEx((region | item).astype(np.uint8), cv2.MORPH_CLOSE, close))
    full = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.maximum(alpha, full).astype(np.float32)

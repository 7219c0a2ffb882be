"""Soft alpha mattes (ISNet), instance splitting and cutouts."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.segment.models import isnet_session
from services.segment.settings import segment_settings
from shared.models import ISNET
from shared.schemas import ITEM_ALPHA, Box


@dataclass
class Instance:
    box: Box
    alpha: np.ndarray  # float32 HxW of the whole photo, zero outside this instance
    area: int


def matte(rgb: np.ndarray) -> np.ndarray:
    """Soft alpha in [0, 1], HxW float32, for the photo's salient objects."""
    size = ISNET.input_size
    h, w = rgb.shape[:2]
    x = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = ((x - 128.0) / 256.0).transpose(2, 0, 1)[None]
    out = isnet_session().run(["output"], {"input": np.ascontiguousarray(x)})[0][0, 0]
    return np.clip(cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def split_instances(alpha: np.ndarray) -> list[Instance]:
    """Connected components of the matte above the minimum areas, largest first. Each
    keeps the soft alpha around its component (a few pixels of its own edge)."""
    h, w = alpha.shape
    solid = (alpha > ITEM_ALPHA).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(solid, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    if not len(areas):
        return []
    s = segment_settings()
    keep_from = max(s.min_area_of_image * h * w, s.min_area_of_largest * areas.max())
    margin = max(3, int(0.01 * max(h, w)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    instances = []
    for label in np.argsort(areas)[::-1] + 1:
        area = int(stats[label, cv2.CC_STAT_AREA])
        if area < keep_from:
            break
        x, y, bw, bh = stats[label, :4]
        region = cv2.dilate((labels == label).astype(np.uint8), kernel).astype(bool)
        instances.append(
            Instance(
                box=(
                    int(max(0, x - margin)),
                    int(max(0, y - margin)),
                    int(min(w, x + bw + margin)),
                    int(min(h, y + bh + margin)),
                ),
                alpha=np.where(region, alpha, 0.0).astype(np.float32),
                area=area,
            )
        )
    return instances

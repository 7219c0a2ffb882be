"""Does a photo show people? The person matte (MediaPipe selfie segmentation) answers where
people may be; pose then confirms each body with its landmarks."""

from __future__ import annotations

import numpy as np

from services.detect.models import selfie_segmenter
from services.detect.settings import detect_settings


def person_matte(rgb: np.ndarray) -> np.ndarray:
    """How sure the matte is of a person at each pixel: HxW float32 in [0, 1]."""
    return selfie_segmenter().process(np.ascontiguousarray(rgb)).segmentation_mask


def may_show_people(matte: np.ndarray) -> bool:
    """Some pixel is a person's with the confidence a confirmed body needs."""
    return bool(matte.size) and float(matte.max()) >= detect_settings().person_matte_min

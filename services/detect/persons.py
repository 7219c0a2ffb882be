"""The COCO person detector's boxes: one per person, with a face or without (cropped,
headless, from behind), in a crowd as alone. A box is evidence, not proof: the detector
also boxes a garment laid flat, on a hanger or on a dress form, so pose keeps a box only
where a body is found in it (services/pose/people.py)."""

from __future__ import annotations

import numpy as np

from services.detect.models import person_detector
from services.detect.settings import detect_settings
from shared.domain.boxes import iou
from shared.domain.records import Box
from shared.infra.model_registry import PERSON_DETECTOR

PERSON = 0  # COCO's class index for a person, as the model numbers them


def person_boxes(rgb: np.ndarray) -> list[tuple[Box, float]]:
    """The boxes the detector is at least person_box_min sure hold a person, surest first,
    after non-maximum suppression (same_person_iou), with their scores."""
    import cv2

    s = detect_settings()
    h, w = rgb.shape[:2]
    side = PERSON_DETECTOR.input_size
    model = person_detector()
    stretched = cv2.resize(np.ascontiguousarray(rgb), (side, side), interpolation=cv2.INTER_AREA)
    model.set_tensor(model.get_input_details()[0]["index"], stretched[None].astype(np.uint8))
    model.invoke()
    boxes, classes, scores, count = (model.get_tensor(d["index"]) for d in model.get_output_details())
    found: list[tuple[Box, float]] = []
    for i in np.argsort(-scores[0, : int(count[0])]):
        if int(classes[0, i]) != PERSON or scores[0, i] < s.person_box_min:
            continue
        y0, x0, y1, x1 = np.clip(boxes[0, i], 0, 1)
        box = (int(x0 * w), int(y0 * h), int(np.ceil(x1 * w)), int(np.ceil(y1 * h)))
        if box[2] > box[0] and box[3] > box[1] and all(iou(box, b) < s.same_person_iou for b, _ in found):
            found.append((box, float(scores[0, i])))
    return found

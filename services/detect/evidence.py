"""Does a photo show people, and where are their faces and hands? The person matte
(MediaPipe selfie segmentation) answers where people may be; the face detector, where each
face is; the hand detector, where a headless shot's hands are. Pose then confirms each body
with its landmarks, and looks for a body under every face its one-at-a-time search missed
(people in a group) and in every person box (services/detect/persons.py) beside a face or
a hand."""

from __future__ import annotations

import numpy as np

from services.detect.models import face_detector, hand_detector, selfie_segmenter
from services.detect.settings import detect_settings
from shared.domain.boxes import iou
from shared.domain.records import Box


def person_matte(rgb: np.ndarray) -> np.ndarray:
    """How sure the matte is of a person at each pixel: HxW float32 in [0, 1]."""
    return selfie_segmenter().process(np.ascontiguousarray(rgb)).segmentation_mask


def may_show_people(matte: np.ndarray) -> bool:
    """Some pixel is a person's with the confidence a confirmed body needs."""
    return bool(matte.size) and float(matte.max()) >= detect_settings().person_matte_min


def faces_on_people(rgb: np.ndarray, matte: np.ndarray) -> list[Box]:
    """The boxes of the faces whose centre the person matte covers (a face printed on a pack
    or a poster in the background is not on anyone). The detector sees the photo at 192
    pixels, where the faces of a group shot are a few pixels wide, so where it sees a face
    it also looks at the four corners of the photo for more (a photo without a face, most
    products, pays one call)."""
    faces = _faces(rgb)
    if faces:
        faces += _more_in_corners(rgb, faces)
    least = detect_settings().face_matte_min
    return [(x0, y0, x1, y1) for x0, y0, x1, y1 in faces if matte[(y0 + y1) // 2, (x0 + x1) // 2] >= least]


def _more_in_corners(rgb: np.ndarray, found: list[Box]) -> list[Box]:
    """Faces in the photo's four corners, each corner_tile of its width and height, not found yet."""
    s = detect_settings()
    h, w = rgb.shape[:2]
    th, tw = int(h * s.corner_tile), int(w * s.corner_tile)
    more: list[Box] = []
    for y in (0, h - th):
        for x in (0, w - tw):
            for x0, y0, x1, y1 in _faces(rgb[y : y + th, x : x + tw]):
                face = (x0 + x, y0 + y, x1 + x, y1 + y)
                if all(iou(face, other) < s.same_face_iou for other in found + more):
                    more.append(face)
    return more


def _faces(rgb: np.ndarray) -> list[Box]:
    h, w = rgb.shape[:2]
    found = face_detector().process(np.ascontiguousarray(rgb)).detections or []
    faces: list[Box] = []
    for detection in found:
        b = detection.location_data.relative_bounding_box
        x0, y0 = max(0, int(b.xmin * w)), max(0, int(b.ymin * h))
        x1, y1 = min(w, int((b.xmin + b.width) * w)), min(h, int((b.ymin + b.height) * h))
        if x1 > x0 and y1 > y0:
            faces.append((x0, y0, x1, y1))
    return faces


def hands_on_people(rgb: np.ndarray, matte: np.ndarray) -> list[Box]:
    """The boxes of the hands (their 21 landmarks' extent) whose centre the person matte
    covers as a face's must (face_matte_min)."""
    h, w = rgb.shape[:2]
    found = hand_detector().process(np.ascontiguousarray(rgb)).multi_hand_landmarks or []
    least = detect_settings().face_matte_min
    hands: list[Box] = []
    for hand in found:
        xs = [min(w - 1, max(0, int(p.x * w))) for p in hand.landmark]
        ys = [min(h - 1, max(0, int(p.y * h))) for p in hand.landmark]
        box = (min(xs), min(ys), max(xs) + 1, max(ys) + 1)
        if matte[(box[1] + box[3]) // 2, (box[0] + box[2]) // 2] >= least:
            hands.append(box)
    return hands

"""Where on a body things are, as pixel masks from its keypoints: a garment's own fabric,
the skin of the face, hands and shins (what the color stage samples and leaves out), and
the skeleton drawn on the catalog's preview."""

from __future__ import annotations

import numpy as np

from shared.domain.body import Body, garment_regions
from shared.domain.records import Garment, Person

# Skeleton edges for drawing (pairs of landmark names).
SKELETON = (
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("left_ankle", "left_heel"),
    ("left_heel", "left_foot_index"),
    ("right_ankle", "right_heel"),
    ("right_heel", "right_foot_index"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
)


def garment_body_mask(person: Person, garment: Garment, width: int, height: int, visible: float) -> np.ndarray:
    """Where on the body a garment's own fabric is, from the keypoints: the torso for a
    top, the legs for a bottom, the feet for shoes, the crown for headwear. Intersected
    with the person matte by the caller, it keeps skin and background out of the colour."""
    import cv2

    body = Body(person, width, height, visible)
    mask = np.zeros((height, width), np.uint8)
    torso = body.torso_height() or 0.25 * height
    pt = lambda name: tuple(int(v) for v in body.xy(name)[0])  # noqa: E731
    if garment == "top":
        quad = body.xy("left_shoulder", "right_shoulder", "right_hip", "left_hip")
        centre = quad.mean(axis=0)
        quad = centre + 0.85 * (quad - centre)  # stay off the neckline and the arms
        cv2.fillPoly(mask, [quad.astype(np.int32)], 1)
    elif garment == "bottom":
        thick = max(2, int(0.22 * torso))
        quad = body.xy("left_hip", "right_hip")
        pelvis = np.vstack([quad, quad[::-1] + [0, 0.3 * torso]]).astype(np.int32)
        cv2.fillPoly(mask, [pelvis], 1)
        for side in ("left", "right"):
            cv2.line(mask, pt(f"{side}_hip"), pt(f"{side}_knee"), 1, thick)
            cv2.line(mask, pt(f"{side}_knee"), pt(f"{side}_ankle"), 1, max(2, int(0.7 * thick)))
    elif garment == "shoes":
        radius = max(2, int(0.08 * torso))
        for side in ("left", "right"):
            for name in (f"{side}_heel", f"{side}_foot_index"):
                if body.seen(name):
                    cv2.circle(mask, pt(name), radius, 1, -1)
            if body.seen(f"{side}_heel", f"{side}_foot_index"):
                cv2.line(mask, pt(f"{side}_heel"), pt(f"{side}_foot_index"), 1, radius)
    elif garment == "headwear":
        regions = garment_regions(person, width, height, visible)
        if "headwear" in regions:
            x0, y0, x1, y1 = regions["headwear"]
            mask[y0 : y0 + int(0.6 * (y1 - y0)), x0:x1] = 1  # the crown, above the brow
    return mask.astype(bool)


def draw_skeleton(rgb: np.ndarray, people: list[Person], visible: float) -> np.ndarray:
    """A copy of the photo with each person's visible skeleton drawn on it."""
    import cv2

    out = rgb.copy()
    h, w = rgb.shape[:2]
    thick = max(1, round(max(h, w) / 300))
    for person in people:
        body = Body(person, w, h, visible)
        for a, b in SKELETON:
            if body.seen(a, b):
                cv2.line(
                    out,
                    tuple(int(v) for v in body.xy(a)[0]),
                    tuple(int(v) for v in body.xy(b)[0]),
                    (0, 255, 120),
                    thick,
                    cv2.LINE_AA,
                )
        for kp in person.keypoints:
            if body.seen(kp.name):
                cv2.circle(out, (int(kp.x), int(kp.y)), thick + 1, (255, 60, 60), -1, cv2.LINE_AA)
    return out


def face_mask(person: Person, width: int, height: int, visible: float) -> np.ndarray | None:
    """The skin between the eyes and the mouth (cheeks and nose), or None when the face
    is not seen (a back view, a head out of frame)."""
    import cv2

    body = Body(person, width, height, visible)
    corners = ("left_eye", "right_eye", "mouth_right", "mouth_left")
    if not body.seen(*corners):
        return None
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [body.xy(*corners).astype(np.int32)], 1)
    return mask.astype(bool) if mask.sum() >= 9 else None


def hand_mask(person: Person, width: int, height: int, visible: float) -> np.ndarray | None:
    """The back or palm of each hand seen (its wrist, index, pinky and thumb points), or
    None: the skin to sample where the face is out of frame (a shot cut at the chin)."""
    import cv2

    body = Body(person, width, height, visible)
    mask = np.zeros((height, width), np.uint8)
    for side in ("left", "right"):
        corners = tuple(f"{side}_{part}" for part in ("wrist", "pinky", "index", "thumb"))
        if body.seen(*corners):
            cv2.fillPoly(mask, [cv2.convexHull(body.xy(*corners).astype(np.int32))], 1)
    return mask.astype(bool) if mask.sum() >= 9 else None


def shin_mask(person: Person, width: int, height: int, visible: float) -> np.ndarray | None:
    """The lower half of each shin seen, short of the ankle (a line from halfway down the
    knee-ankle segment to 0.85 of it), or None: bare, it is the skin of the feet beside
    it, lit as they are, where the face and hands are in other light or out of frame."""
    import cv2

    body = Body(person, width, height, visible)
    mask = np.zeros((height, width), np.uint8)
    thick = max(2, int(0.06 * (body.torso_height() or 0.25 * height)))
    for side in ("left", "right"):
        if body.seen(f"{side}_knee", f"{side}_ankle"):
            knee, ankle = body.xy(f"{side}_knee", f"{side}_ankle")
            start, end = knee + 0.5 * (ankle - knee), knee + 0.85 * (ankle - knee)
            cv2.line(mask, tuple(int(v) for v in start), tuple(int(v) for v in end), 1, thick)
    return mask.astype(bool) if mask.sum() >= 9 else None

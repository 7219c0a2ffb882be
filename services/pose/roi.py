"""BlazePose's landmark model run directly on a region of interest: the body under a face
that the one-at-a-time search missed. The legacy solution runs its person detector first
and keeps only the best detection; here the region comes from a face instead, as the
solution's own tracking derives the next region from the last landmarks. Same model file
as the solution's, run by LiteRT."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from services.pose.models import landmark_model
from services.pose.settings import pose_settings
from shared.domain.body import LANDMARKS
from shared.domain.boxes import holds
from shared.domain.records import Box, Keypoint
from shared.infra.model_registry import BLAZEPOSE

SIDE = BLAZEPOSE.input_size  # the model's square input, in pixels


class Region(NamedTuple):
    cx: float
    cy: float
    side: float
    rotation: float  # radians; the region is turned by this to make the body upright


def body_under_face(rgb: np.ndarray, face: Box) -> list[Keypoint] | None:
    """The 33 keypoints of the body whose nose is on this face, or None when none is. Each
    guessed region is refined from the landmarks it gives, as the solution tracks, until
    it stays put; the first guess that settles on a body with its nose on the face wins."""
    s = pose_settings()
    x0, y0, x1, y1 = face
    fx, fy, size = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0)
    for down, wide in s.face_body_guesses:
        points = _settled(rgb, Region(fx, fy + down * size, wide * size, 0.0))
        if points is not None and holds(face, points[0, 0], points[0, 1], s.face_nose_margin):
            return [
                Keypoint(name=name, x=float(x), y=float(y), z=float(z), visibility=float(v))
                for name, (x, y, z, v) in zip(LANDMARKS, points[:33, :4])
            ]
    return None


def _settled(rgb: np.ndarray, region: Region) -> np.ndarray | None:
    """The landmarks once the region they give stays within face_region_settled of the region
    they came from, or None when the model sees no body or the region keeps moving."""
    s = pose_settings()
    for _ in range(s.face_region_steps):
        presence, points = landmarks(rgb, region)
        if presence < s.face_body_presence:
            return None
        moved, region = region, region_of(points)
        if math.hypot(region.cx - moved.cx, region.cy - moved.cy) <= s.face_region_settled * region.side:
            return points
    return None


def landmarks(rgb: np.ndarray, region: Region) -> tuple[float, np.ndarray]:
    """The model's presence score and its 39 points (33 landmarks, then the alignment
    points) as rows x, y, z (photo pixels) and visibility (0-1)."""
    import cv2

    model = landmark_model()
    to_crop = cv2.invertAffineTransform(_crop_to_photo(region))
    crop = cv2.warpAffine(rgb, to_crop, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    model.set_tensor(model.get_input_details()[0]["index"], (crop.astype(np.float32) / 255.0)[None])
    model.invoke()
    outputs = {tuple(d["shape"]): model.get_tensor(d["index"]) for d in model.get_output_details()}
    raw = outputs[(1, 195)].reshape(39, 5)
    presence = float(outputs[(1, 1)][0, 0])
    xy = np.c_[raw[:, :2], np.ones(39)] @ _crop_to_photo(region).T
    z = raw[:, 2] * region.side / SIDE
    visibility = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 3], -50, 50)))
    return presence, np.c_[xy, z, visibility]


def region_of(points: np.ndarray) -> Region:
    """The region the alignment points give: centred on the hips (point 33), as wide as
    2.5 times the body's radius (to point 34), turned so that the body stands upright."""
    (hx, hy), (sx, sy) = points[33, :2], points[34, :2]
    radius = math.hypot(sx - hx, sy - hy)
    rotation = math.pi / 2 - math.atan2(-(sy - hy), sx - hx)
    rotation -= 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return Region(float(hx), float(hy), 2.5 * radius, rotation)


def _crop_to_photo(region: Region) -> np.ndarray:
    """The 2x3 affine map from the model's input pixels to the photo's."""
    scale = region.side / SIDE
    c, s = math.cos(region.rotation) * scale, math.sin(region.rotation) * scale
    half = SIDE / 2
    return np.array(
        [
            [c, -s, region.cx - c * half + s * half],
            [s, c, region.cy - s * half - c * half],
        ]
    )


def body_in_box(rgb: np.ndarray, box: Box) -> tuple[float, list[Keypoint]]:
    """BlazePose's landmarks for the person in a detector's box, and the model's confidence
    that a body is there: the region is the box, square, grown by box_region_margin of its
    long side, then refined once from the landmarks it gives, as the solution tracks. The
    landmarks are the model's guess for the whole body; only those it sees are visible."""
    s = pose_settings()
    x0, y0, x1, y1 = box
    region = Region((x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * (1 + s.box_region_margin), 0.0)
    presence, points = landmarks(rgb, region)
    if presence >= s.box_body_presence:
        again, refined = landmarks(rgb, region_of(points))
        if again >= presence:
            presence, points = again, refined
    return presence, [
        Keypoint(name=name, x=float(x), y=float(y), z=float(z), visibility=float(v))
        for name, (x, y, z, v) in zip(LANDMARKS, points[:33, :4])
    ]

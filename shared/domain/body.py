"""The geometry of a body from its 33 BlazePose keypoints: which points are seen, the
person's box, garment regions and their framing, the views of the head and the outfit.
Pure functions of keypoints and sizes; no model runs here. A keypoint counts as seen at the
visibility each caller passes in (BodySettings.visible, one setting for every stage). Masks
in pixels (a garment's fabric, the skin, the skeleton) are in shared.domain.body_masks."""

from __future__ import annotations

from functools import cache

import numpy as np
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.records import AspectPreset, Box, Garment, Keypoint, Person


class BodySettings(BaseSettings):
    """Environment: CATALOG_BODY_<NAME>, e.g. CATALOG_BODY_VISIBLE=0.6."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_BODY_")

    # BlazePose still places points outside the frame or behind the body, with low
    # visibility; below this a point is treated as not seen (garment crops, colours, framing).
    visible: float = Field(0.5, ge=0, le=1)


@cache
def body_settings() -> BodySettings:
    return BodySettings()


LANDMARKS = (
    "nose",
    "left_eye_inner",
    "left_eye",
    "left_eye_outer",
    "right_eye_inner",
    "right_eye",
    "right_eye_outer",
    "left_ear",
    "right_ear",
    "mouth_left",
    "mouth_right",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_pinky",
    "right_pinky",
    "left_index",
    "right_index",
    "left_thumb",
    "right_thumb",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_heel",
    "right_heel",
    "left_foot_index",
    "right_foot_index",
)
ASPECTS = {"3:4": 3 / 4, "1:1": 1.0, "4:5": 4 / 5, "free": None}


class Body:
    """Keypoints of one person, with the questions the cropping rules ask."""

    def __init__(self, person: Person, width: int, height: int, visible: float):
        self.points = {kp.name: kp for kp in person.keypoints}
        self.width, self.height = width, height
        self.visible = visible

    def seen(self, *names: str) -> bool:
        """All named points visible and inside the frame."""
        for name in names:
            kp = self.points[name]
            if kp.visibility < self.visible or not (0 <= kp.x < self.width and 0 <= kp.y < self.height):
                return False
        return True

    def seen_any(self, *names: str) -> list[str]:
        return [name for name in names if self.seen(name)]

    def xy(self, *names: str) -> np.ndarray:
        return np.array([[self.points[n].x, self.points[n].y] for n in names])

    def mid(self, a: str, b: str) -> np.ndarray:
        return self.xy(a, b).mean(axis=0)

    def seen_torso(self) -> float | None:
        """The torso's height where both shoulders and both hips are seen, else None."""
        seen = self.seen("left_shoulder", "right_shoulder", "left_hip", "right_hip")
        return self.torso_height() if seen else None

    def torso_height(self) -> float:
        return float(np.linalg.norm(self.mid("left_shoulder", "right_shoulder") - self.mid("left_hip", "right_hip")))


def person_box(keypoints: list[Keypoint], width: int, height: int, visible: float) -> Box:
    """The body's extent from its visible points, widened by a head's size for hair and
    hands, clipped to the image."""
    pts = np.array([[k.x, k.y] for k in keypoints if k.visibility >= visible] or [[k.x, k.y] for k in keypoints])
    head = np.linalg.norm(np.array([keypoints[7].x - keypoints[8].x, keypoints[7].y - keypoints[8].y]))
    margin = max(head, 0.05 * (pts[:, 1].max() - pts[:, 1].min()))
    x0, y0 = pts.min(axis=0) - margin
    x1, y1 = pts.max(axis=0) + margin
    return clip((x0, y0 - margin, x1, y1), width, height)


def clip(box, width: int, height: int) -> Box:
    x0, y0, x1, y1 = box
    return (
        int(max(0, np.floor(x0))),
        int(max(0, np.floor(y0))),
        int(min(width, np.ceil(x1))),
        int(min(height, np.ceil(y1))),
    )


def frame(box, width: int, height: int, aspect: AspectPreset = "3:4", padding: float = 0.08) -> Box:
    """Pad a garment box, widen it to the aspect preset (never narrower, so the garment is
    never cut), then move it inside the image; clip only where it is larger than the image."""
    x0, y0, x1, y1 = map(float, box)
    bw, bh = x1 - x0, y1 - y0
    x0, x1 = x0 - padding * bw, x1 + padding * bw
    y0, y1 = y0 - padding * bh, y1 + padding * bh
    ratio = ASPECTS[aspect]
    if ratio:
        bw, bh = x1 - x0, y1 - y0
        if bw / bh < ratio:
            grow = (bh * ratio - bw) / 2
            x0, x1 = x0 - grow, x1 + grow
        else:
            grow = (bw / ratio - bh) / 2
            y0, y1 = y0 - grow, y1 + grow
    # Shift back into the frame where the box fits, so the aspect is kept.
    x0, x1 = shift_inside(x0, x1, width)
    y0, y1 = shift_inside(y0, y1, height)
    return clip((x0, y0, x1, y1), width, height)


def shift_inside(lo: float, hi: float, size: int) -> tuple[float, float]:
    """A span moved inside [0, size] where it fits, else the whole of it."""
    if hi - lo >= size:
        return 0.0, float(size)
    if lo < 0:
        return 0.0, hi - lo
    if hi > size:
        return size - (hi - lo), float(size)
    return lo, hi


def garment_regions(person: Person, width: int, height: int, visible: float) -> dict[Garment, Box]:
    """Tight boxes of each garment whose keypoints are seen, before framing. Headwear is
    only a candidate region here; the caller keeps it if the classifier sees a hat."""
    body = Body(person, width, height, visible)
    regions: dict[Garment, Box] = {}
    shoulders, hips = ("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")
    torso = body.seen_torso()

    if torso:
        arms = body.seen_any("left_elbow", "right_elbow", "left_wrist", "right_wrist")
        pts = body.xy(*shoulders, *hips, *arms)
        shoulder_width = abs(body.points["left_shoulder"].x - body.points["right_shoulder"].x)
        side = 0.15 * max(shoulder_width, 0.4 * torso)  # sleeves and loose fit
        regions["top"] = clip(
            (
                pts[:, 0].min() - side,
                pts[:, 1].min() - 0.15 * torso,
                pts[:, 0].max() + side,
                body.mid(*hips)[1] + 0.2 * torso,
            ),
            width,
            height,
        )
    elif body.seen(*shoulders):
        # Upper-body shot: the hips are out of frame, so the top runs to the frame's edge.
        shoulder_width = abs(body.points["left_shoulder"].x - body.points["right_shoulder"].x)
        top_y = body.xy(*shoulders)[:, 1].min()
        if height - top_y >= 0.6 * shoulder_width:
            pts = body.xy(*shoulders, *body.seen_any("left_elbow", "right_elbow"))
            side = 0.15 * shoulder_width
            regions["top"] = clip(
                (pts[:, 0].min() - side, top_y - 0.25 * shoulder_width, pts[:, 0].max() + side, height), width, height
            )

    if torso:
        legs = body.seen_any("left_knee", "right_knee", "left_ankle", "right_ankle")
        hip_y = body.mid(*hips)[1]
        # Legs that run out of the bottom of the frame still show the garment down to it.
        bottom_y = height if not legs else body.xy(*legs)[:, 1].max() + 0.1 * torso
        if bottom_y - hip_y >= 0.2 * torso:
            pts = body.xy(*hips, *legs)
            side = 0.35 * torso
            regions["bottom"] = clip(
                (pts[:, 0].min() - side, hip_y - 0.25 * torso, pts[:, 0].max() + side, bottom_y),
                width,
                height,
            )

    feet = body.seen_any("left_ankle", "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index")
    if len(feet) >= 2 and body.seen_any("left_foot_index", "right_foot_index", "left_heel", "right_heel"):
        pts = body.xy(*feet)
        size = 0.3 * torso if torso else 0.5 * max(np.ptp(pts[:, 0]), np.ptp(pts[:, 1]), 10)
        regions["shoes"] = clip(
            (pts[:, 0].min() - size, pts[:, 1].min() - size, pts[:, 0].max() + size, pts[:, 1].max() + 0.6 * size),
            width,
            height,
        )

    head = _head(body, torso)
    if head:
        cx, eye_y, size = head
        region = clip((cx - 0.9 * size, eye_y - 1.2 * size, cx + 0.9 * size, eye_y + 0.15 * size), width, height)
        if region[3] - region[1] >= 0.4 * size:  # enough of the head above the eyes is in frame
            regions["headwear"] = region
    return regions


def head_view(person: Person, width: int, height: int, visible: float) -> Box | None:
    """The whole head and what sits on it: wider and taller than the headwear region (the
    crown above the eyes), so a brim, a cap seen from behind or a hat pushed up the head is
    whole in it. The hat check looks at both."""
    body = Body(person, width, height, visible)
    head = _head(body, body.seen_torso())
    if not head:
        return None
    cx, eye_y, size = head
    return clip((cx - 1.3 * size, eye_y - 1.8 * size, cx + 1.3 * size, eye_y + 0.6 * size), width, height)


def outfit_view(person: Person, width: int, height: int, visible: float) -> Box | None:
    """The person's clothes seen whole: the person's box from the shoulders down. A dress
    or a suit is told apart from a top and a skirt, or a jacket, by its whole length, which
    the top's and the bottom's own crops each see only half of."""
    body = Body(person, width, height, visible)
    shoulders = body.seen_any("left_shoulder", "right_shoulder")
    if not shoulders:
        return None
    x0, _, x1, y1 = person.box
    return clip((x0, body.xy(*shoulders)[:, 1].min(), x1, y1), width, height)


def _head(body: Body, torso: float | None) -> tuple[float, float, float] | None:
    """The head's centre line, the height of its eyes and its width (ear to ear, 2.5 times
    the eyes' distance, or a quarter of the torso, the largest), where the eyes or an ear
    are seen."""
    if not (body.seen("left_eye", "right_eye") or body.seen_any("left_ear", "right_ear")):
        return None
    pts = body.xy(*body.seen_any("left_eye", "right_eye", "left_ear", "right_ear", "nose"))
    size = max(
        np.linalg.norm(body.xy("left_ear")[0] - body.xy("right_ear")[0]),
        2.5 * np.linalg.norm(body.xy("left_eye")[0] - body.xy("right_eye")[0]),
        0.25 * torso if torso else 0,
    )
    return float(pts[:, 0].mean()), float(pts[:, 1].min()), float(size)

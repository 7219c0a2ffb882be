"""A style guide's rules applied to one body: where each output's crop lies in the photo.

The two vertical rules of an output (two of top edge, bottom edge, anchor) are each a
linear equation in the crop's top T and height H, because an offset in percent of the
output scales with H: solved together they give the crop. Its width follows from the
aspect, its centre from the horizontal placement. Pure geometry on keypoints: the
gateway's live preview runs the same code as the pose worker."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shared.domain.body import Body, garment_regions, person_box, shift_inside
from shared.domain.records import Box, Keypoint, Person, Skipped
from shared.domain.styles import Anchor, Edge, Output, Reference, StyleGuide
from shared.infra.settings import settings

# Proportions of an adult head, from the face BlazePose sees: the head (crown to chin)
# is about four eye-to-mouth distances tall, the eyes at its middle; a torso (shoulders to
# hips) is about 2.3 heads.
HEADS_PER_EYE_MOUTH = 4.0
HEADS_PER_TORSO = 2.3
PAIRS = {
    "eyes": ("left_eye", "right_eye"),
    "mouth": ("mouth_left", "mouth_right"),
    "shoulders": ("left_shoulder", "right_shoulder"),
    "elbows": ("left_elbow", "right_elbow"),
    "wrists": ("left_wrist", "right_wrist"),
    "hips": ("left_hip", "right_hip"),
    "knees": ("left_knee", "right_knee"),
    "ankles": ("left_ankle", "right_ankle"),
    "heels": ("left_heel", "right_heel"),
    "toes": ("left_foot_index", "right_foot_index"),
}
SOLES = ("left_heel", "right_heel", "left_foot_index", "right_foot_index")
# A crop may pass the photo's edge by this many pixels (rounding) and still count as inside.
EDGE_SLACK = 1.0


class CannotFrame(Exception):
    """The output cannot follow its rules on this body; the message says why."""


@dataclass
class Framed:
    box: Box  # in photo pixels; beyond the photo where the crop is padded
    size: tuple[int, int]  # the output image's width and height
    warnings: list[str] = field(default_factory=list)


class BodyFrame:
    """A body's reference points and length units, as a guide names them."""

    def __init__(self, person: Person, region: Box, width: int, height: int, visible: float):
        self.body = Body(person, width, height, visible)
        self.region = region
        self.width, self.height = width, height

    def y(self, ref: Reference, edge: str) -> float | None:
        """The reference's height in the photo, or None when it is not seen. For
        `garment`, the region's top or bottom as the rule is a top or bottom edge."""
        body = self.body
        if ref == "garment":
            return float(self.region[3] if edge == "bottom" else self.region[1])
        if ref == "nose":
            return float(body.points["nose"].y) if body.seen("nose") else None
        if ref == "soles":
            seen = body.seen_any(*SOLES)
            return float(body.xy(*seen)[:, 1].max()) if seen else None
        if ref in ("chin", "head_top"):
            eyes, head = self.y("eyes", edge), self.head()
            if eyes is None or head is None or not self._face_seen():
                return None
            return eyes + (0.5 if ref == "chin" else -0.5) * head
        seen = body.seen_any(*PAIRS[ref])
        return float(body.xy(*seen)[:, 1].mean()) if seen else None

    def _face_seen(self) -> bool:
        return bool(self.body.seen_any(*PAIRS["eyes"])) and bool(self.body.seen_any(*PAIRS["mouth"]))

    def head(self) -> float | None:
        """The head's height: from the eyes and mouth when the face is seen, else from the torso."""
        body = self.body
        if self._face_seen():
            eyes = body.xy(*body.seen_any(*PAIRS["eyes"])).mean(axis=0)
            mouth = body.xy(*body.seen_any(*PAIRS["mouth"])).mean(axis=0)
            return HEADS_PER_EYE_MOUTH * float(np.linalg.norm(mouth - eyes))
        torso = self.torso(from_head=False)
        return torso / HEADS_PER_TORSO if torso else None

    def torso(self, from_head: bool = True) -> float | None:
        body = self.body
        if body.seen(*PAIRS["shoulders"], *PAIRS["hips"]):
            return body.torso_height()
        head = self.head() if from_head else None
        return head * HEADS_PER_TORSO if head else None

    def centre_x(self, placement: str) -> float:
        if placement == "photo":
            return self.width / 2
        if placement == "garment":
            return (self.region[0] + self.region[2]) / 2
        axis = self.body.seen_any(*PAIRS["shoulders"], *PAIRS["hips"])
        if axis:
            return float(self.body.xy(*axis)[:, 0].mean())
        return (self.region[0] + self.region[2]) / 2


def frame_output(rule: Output, person: Person, region: Box, width: int, height: int, visible: float) -> Framed:
    """The crop of one output for one person (`region`: the output's own box, the
    garment's or the person's). Raises CannotFrame when the rules cannot be followed and
    the output's on_fail says to skip."""
    frame = BodyFrame(person, region, width, height, visible)
    warnings: list[str] = []
    rows, values = [], []
    for edge_name in ("top", "bottom", "anchor"):
        rule_part = getattr(rule, edge_name)
        if rule_part is None:
            continue
        row, value = _equation(frame, edge_name, rule_part, rule.on_fail, warnings)
        rows.append(row)
        values.append(value)
    try:
        top, crop_h = np.linalg.solve(np.array(rows), np.array(values))
    except np.linalg.LinAlgError:
        raise CannotFrame("the rules leave the crop's height open (both in percent of the output)") from None
    if crop_h < 8:
        raise CannotFrame(f"the rules give a crop {crop_h:.0f} px high: the top edge falls at or below the bottom")
    crop_w = crop_h * rule.ratio
    factor = settings().max_crop_factor
    if crop_h > factor * height or crop_w > factor * width:
        raise CannotFrame(
            f"the rules give a crop of {crop_w:.0f}x{crop_h:.0f} px, "
            f"over {factor:g} times this photo's {width}x{height}"
        )
    cx = frame.centre_x(rule.horizontal)
    x0, y0, x1, y1 = cx - crop_w / 2, top, cx + crop_w / 2, top + crop_h
    if rule.contain:
        x0, y0, x1, y1 = _contain((x0, y0, x1, y1), region, _pivot_y(rule, (y0, y1)))
    x0, y0, x1, y1 = _keep_in_photo((x0, y0, x1, y1), width, height, rule.on_fail, warnings)
    box = (round(x0), round(y0), round(x1), round(y1))
    size = rule.size or within_output_cap((box[2] - box[0], box[3] - box[1]), warnings)
    return Framed(box=box, size=(int(size[0]), int(size[1])), warnings=warnings)


def within_output_cap(size: tuple[int, int], warnings: list[str]) -> tuple[int, int]:
    """A crop's own size, shrunk (aspect kept) where it passes the output image cap."""
    w, h = size
    cap = settings().max_output_pixels
    if w * h <= cap:
        return size
    scale = (cap / (w * h)) ** 0.5
    warnings.append(f"the crop is {w}x{h} px: the image is shrunk to {cap / 1e6:g} megapixels")
    return max(1, int(w * scale)), max(1, int(h * scale))


def _equation(
    frame: BodyFrame, edge: str, part: Edge | Anchor, on_fail: str, warnings: list[str]
) -> tuple[list[float], float]:
    """One rule as (a, b), r with a*T + b*H = r."""
    refs = part.ref if isinstance(part.ref, list) else [part.ref]
    y = next((v for v in (frame.y(ref, edge) for ref in refs) if v is not None), None)
    if y is None:
        names = " or ".join(refs)
        if on_fail != "best-effort":
            raise CannotFrame(f"the {edge} rule's reference ({names}) is not seen")
        warnings.append(f"{edge}: {names} not seen, the output's own region used instead")
        region_y = frame.y("garment", "bottom" if edge == "bottom" else "top")
        assert region_y is not None  # the region is always there
        if isinstance(part, Anchor):  # the region's top at the anchor's place
            return [1.0, 0.0], region_y
        y, part = region_y, Edge(ref="garment")
    if isinstance(part, Anchor):
        return [1.0, part.at / 100], y
    sign = 1.0 if part.side == "below" else -1.0
    at_bottom = 1.0 if edge == "bottom" else 0.0  # the bottom edge is T + H
    if part.unit == "percent":
        return [1.0, at_bottom - sign * part.offset / 100], y
    unit = frame.head() if part.unit == "head" else frame.torso()
    if unit is None and part.offset:
        if on_fail != "best-effort":
            raise CannotFrame(f"the {edge} rule's unit ({part.unit}) cannot be measured: neither face nor torso seen")
        warnings.append(f"{edge}: no {part.unit} size, offset left out")
        unit = 0.0
    return [1.0, at_bottom], y + sign * part.offset * (unit or 0.0)


def _pivot_y(rule: Output, span: tuple[float, float]) -> float:
    """Where the crop grows from: the anchor's height (so it keeps its place), else the
    crop's centre."""
    y0, y1 = span
    if rule.anchor is not None:
        return y0 + rule.anchor.at / 100 * (y1 - y0)
    return (y0 + y1) / 2


def _contain(box, region: Box, pivot_y: float):
    """The crop grown about (its centre across, pivot_y) until the region fits across it."""
    x0, y0, x1, y1 = box
    cx = (x0 + x1) / 2
    need = 2 * max(cx - region[0], region[2] - cx)
    scale = need / (x1 - x0)
    if scale <= 1:
        return box
    return (
        cx - scale * (cx - x0),
        pivot_y - scale * (pivot_y - y0),
        cx + scale * (x1 - cx),
        pivot_y + scale * (y1 - pivot_y),
    )


def _keep_in_photo(box, width: int, height: int, on_fail: str, warnings: list[str]):
    """A crop that leaves the photo: kept as it is (pad: the caller fills the rest),
    refused (skip), or moved inside and clipped where larger than the photo (best-effort)."""
    x0, y0, x1, y1 = box
    out = {
        "left": -x0,
        "top": -y0,
        "right": x1 - width,
        "bottom": y1 - height,
    }
    leaving = {side: px for side, px in out.items() if px > EDGE_SLACK}
    if not leaving or on_fail == "pad":
        return box
    sides = ", ".join(f"{side} by {px:.0f} px" for side, px in leaving.items())
    if on_fail == "skip":
        raise CannotFrame(f"the crop leaves the photo ({sides})")
    warnings.append(f"the crop left the photo ({sides}): moved inside, the rules are met only in part")
    # Larger than the photo: shrunk about its centre, so the aspect (and the size) hold.
    scale = min(1.0, width / (x1 - x0), height / (y1 - y0))
    cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, scale * (x1 - x0) / 2, scale * (y1 - y0) / 2
    x0, x1 = shift_inside(cx - half_w, cx + half_w, width)
    y0, y1 = shift_inside(cy - half_h, cy + half_h, height)
    return x0, y0, x1, y1


def output_regions(person: Person, width: int, height: int, visible: float) -> dict[str, Box]:
    """Each output's own region: the person's box for the look, then each garment's box
    from its keypoints (only the garments whose keypoints are seen)."""
    regions: dict[str, Box] = {"look": person.box}
    regions.update(garment_regions(person, width, height, visible).items())
    return regions


def preview(guide: StyleGuide, people: list[list[Keypoint]], width: int, height: int, visible: float):
    """Every output's crop for each person of a photo whose keypoints are known (a
    manifest record's), as the web page's live preview draws them: (framed outputs as
    (output, person, Framed)), (skipped). Garment crops here do not ask the classifier,
    so headwear shows where a hat would be framed."""
    framed: list[tuple[str, int, Framed]] = []
    skipped: list[Skipped] = []
    rules = guide.outputs.given()
    for index, keypoints in enumerate(people):
        person = Person(box=person_box(keypoints, width, height, visible), keypoints=keypoints)
        regions = output_regions(person, width, height, visible)
        for output, rule in rules.items():
            if output not in regions:
                skipped.append(Skipped(output=output, person=index, reason=f"no {output} seen on this person"))
                continue
            try:
                framed.append((output, index, frame_output(rule, person, regions[output], width, height, visible)))
            except CannotFrame as exc:
                skipped.append(Skipped(output=output, person=index, reason=str(exc)))
    return framed, skipped

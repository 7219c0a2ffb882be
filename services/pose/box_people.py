"""The person detector's boxes that no body found by the search covers: each is looked in
for a body of its own (BlazePose's landmarks on the box's region, services/pose/roi.py),
so a person the search missed, cropped, headless, from behind or in a crowd, gets
keypoints for what is in frame. A box is evidence, not proof (the detector also boxes a
garment laid flat or on a dress form, and the landmark model is as sure of a body there):
its body counts only beside other evidence of people, a confirmed body in the photo, a
face or a hand (marks) in the box, or both legs seen down to the toes in a box that is the
photo's subject (a shot of legs and feet has no face or hands; a garment laid flat, hung or
on a form has no feet, and a figure printed on one is small)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.pose.roi import body_in_box
from services.pose.settings import pose_settings
from shared.domain.body import Body, body_settings, person_box
from shared.domain.boxes import holds
from shared.domain.records import Box, Person


def bodies_in_boxes(
    rgb: np.ndarray, boxes: Sequence[Box], marks: Sequence[Box], found: list[Person], claimed: Sequence[Box] = ()
) -> list[Person]:
    """A body for each box that holds in its middle (box_core of its width) no found
    person's torso and no face claimed by one, found where the box's own middle holds its
    torso, the landmark model is sure of it (box_body_presence) and its torso is in the
    middle of no found person's box, and, in a photo with no body found and no mark in the
    box, whose legs are seen in full in a box at least legs_box_min_height of the photo's
    height; the caller confirms each as it confirms every body."""
    s = pose_settings()
    h, w = rgb.shape[:2]
    bodies: list[Person] = []
    free = unmatched(boxes, found, s.box_core)
    for box in free:
        if any(in_core(box, ((f[0] + f[2]) / 2, (f[1] + f[3]) / 2), s.box_core) for f in claimed):
            continue
        marked = bool(found) or any(holds(box, (m[0] + m[2]) / 2, (m[1] + m[3]) / 2) for m in marks)
        if not marked and box[3] - box[1] < s.legs_box_min_height * h:
            continue  # with no mark, only a box that is the photo's subject may show legs in full
        presence, keypoints = body_in_box(rgb, box)
        person = Person(box=person_box(keypoints, w, h, body_settings().visible), keypoints=keypoints)
        centre = torso_centre(person)
        if found and not in_core(box, centre, s.box_core):  # the model took a neighbour: hide them
            presence, keypoints = body_in_box(_neighbours_hidden(rgb, box, found, s.box_core), box)
            person = Person(box=person_box(keypoints, w, h, body_settings().visible), keypoints=keypoints)
            centre = torso_centre(person)
        if presence < s.box_body_presence or not in_core(box, centre, s.box_core):
            continue
        if not (marked or legs_in_full(person, w, h)):
            continue
        if not any(in_core(p.box, centre, s.box_core) for p in found + bodies):  # not someone found, again
            bodies.append(person)
    return bodies


LEGS = ("knee", "ankle", "heel", "foot_index")


def legs_in_full(person: Person, width: int, height: int) -> bool:
    """Both legs seen down to the toes: every knee, ankle, heel and toe landmark visible and
    inside the frame. Of 3,781 garment photos (clothing-small: laid flat, hung, a few worn)
    the landmark model was sure of a body in a person box in 468, and saw this in 3, each a
    figure printed on a T-shirt, its box a quarter of the photo's height; in none of the
    trousers."""
    body = Body(person, width, height, body_settings().visible)
    return body.seen(*(f"{side}_{part}" for side in ("left", "right") for part in LEGS))


def _neighbours_hidden(rgb: np.ndarray, box: Box, found: list[Person], core: float) -> np.ndarray:
    """The photo with the found people's boxes greyed out (as the body search does),
    but for the box's middle (core of its width), where its own person stands: in a
    crowd the landmark model otherwise settles on the neighbour with the clearer face."""
    x0, y0, x1, y1 = box
    margin = int((1 - core) / 2 * (x1 - x0))
    work = rgb.copy()
    for person in found:
        px0, py0, px1, py1 = person.box
        work[py0:py1, px0:px1] = 127
    work[y0:y1, x0 + margin : x1 - margin] = rgb[y0:y1, x0 + margin : x1 - margin]
    return work


def unmatched(boxes: Sequence[Box], people: list[Person], core: float) -> list[Box]:
    """The boxes left once each person takes one box whose middle holds their nose or
    torso, the box centred nearest their axis (halfway from the nose to the torso's
    centre) first: one box to one person."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, person in enumerate(people):
            nose, torso = (person.keypoints[0].x, person.keypoints[0].y), torso_centre(person)
            if in_core(box, nose, core) or in_core(box, torso, core):
                axis = (nose[0] + torso[0]) / 2
                pairs.append((abs((box[0] + box[2]) / 2 - axis) / max(1, box[2] - box[0]), i, j))
    taken_boxes: set[int] = set()
    taken_people: set[int] = set()
    for _, i, j in sorted(pairs):
        if i not in taken_boxes and j not in taken_people:
            taken_boxes.add(i)
            taken_people.add(j)
    return [box for i, box in enumerate(boxes) if i not in taken_boxes]


def torso_centre(person: Person) -> tuple[float, float]:
    """The mean of the shoulders and hips."""
    points = [person.keypoints[i] for i in (11, 12, 23, 24)]
    return sum(k.x for k in points) / 4, sum(k.y for k in points) / 4


def in_core(box: Box, point: tuple[float, float], core: float) -> bool:
    """The point lies in the box, in the middle `core` of its width (people side by side
    overlap at their boxes' edges, not in their middles)."""
    x0, y0, x1, y1 = box
    margin = (1 - core) / 2 * (x1 - x0)
    return x0 + margin <= point[0] <= x1 - margin and y0 <= point[1] <= y1

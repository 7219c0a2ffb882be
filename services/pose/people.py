"""People: BlazePose's landmarks for each person the photo shows, each body confirmed by the
person matte, and a body under each face the one-at-a-time search missed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from services.pose.box_people import bodies_in_boxes
from services.pose.models import pose_estimator
from services.pose.roi import body_under_face
from services.pose.settings import pose_settings
from shared.domain.body import LANDMARKS, body_settings, person_box
from shared.domain.boxes import area, holds, intersection
from shared.domain.records import Box, Keypoint, Person


def find_people(
    rgb: np.ndarray,
    person_matte: np.ndarray,
    faces: Sequence[Box] = (),
    boxes: Sequence[Box] = (),
    hands: Sequence[Box] = (),
) -> list[Person]:
    """The bodies BlazePose finds whose torso the person matte covers: those its
    one-at-a-time search finds, one under each face on the matte that none of them has
    (the rest of a group), and one in each of the person detector's boxes that none of
    them matches; the tallest first, who is the photo's main person. BlazePose alone
    sometimes places a second, phantom body at the frame's edge; the matte alone is too
    coarse to count or separate people; the detector alone boxes garments laid flat."""
    s = pose_settings()
    fills_frame = float((person_matte >= s.torso_coverage).mean()) >= s.margin_retry_min_fill
    people = [p for p in estimate_people(rgb, fills_frame) if torso_coverage(person_matte, p) >= s.torso_coverage]
    # A box alone may be a garment laid flat: without a body, only a box with a face or a hand counts.
    people = people or _people_in_boxes(rgb, person_matte, faces, boxes, [], hands)
    # Faces only add to a confirmed body: a face alone may be a print on a pack or a shirt.
    if not people:
        return []
    added = _people_under_faces(rgb, person_matte, faces, people)
    in_boxes = _people_in_boxes(rgb, person_matte, faces, boxes, people + added)
    added += in_boxes
    sure = [p for p in people + added if any(_nose_on(p, f, s.face_claim_margin) for f in faces)] + in_boxes
    # A faceless body inside the box of one with a face or a detector's box of their own is
    # that person's raised leg or arm read as a body of its own (seen in groups: a
    # cheerleader's leg, a man's arm), or a hand holding a phone.
    people = [p for p in people if p in sure or not any(_inside(p, q) for q in sure if q is not p)]
    return sorted(people + added, key=_height, reverse=True)


def _people_in_boxes(
    rgb: np.ndarray,
    person_matte: np.ndarray,
    faces: Sequence[Box],
    boxes: Sequence[Box],
    found: list[Person],
    hands: Sequence[Box] = (),
) -> list[Person]:
    """A body in each detector box no found person matches, confirmed as a body under a
    face is (face_torso_coverage: the box is evidence beside the matte), whose nose is not
    on a face a found person's nose is on (the same person, their landmarks placed apart
    in a crowd)."""
    s = pose_settings()
    claimed = [f for f in faces if any(_nose_on(q, f, s.face_nose_margin) for q in found)]
    return [
        p
        for p in bodies_in_boxes(rgb, boxes, list(faces) + list(hands), found, claimed)
        if _is_body(p.keypoints)
        and torso_coverage(person_matte, p) >= s.face_torso_coverage
        and not any(_nose_on(p, f, s.face_claim_margin) for f in claimed)
    ]


def _people_under_faces(
    rgb: np.ndarray, person_matte: np.ndarray, faces: Sequence[Box], found: list[Person]
) -> list[Person]:
    """A body for each face no found person's nose is on, confirmed as every body is, with
    the face as evidence beside the matte (face_torso_coverage). A "face" on a found
    person's body, below their shoulders, is a print, a hand or a shoe."""
    s = pose_settings()
    h, w = rgb.shape[:2]
    added: list[Person] = []
    for face in faces:
        if any(_nose_on(p, face, s.face_claim_margin) or _on_body(face, p) for p in found + added):
            continue
        keypoints = body_under_face(rgb, face)
        if keypoints is None or not _is_body(keypoints):
            continue
        person = Person(box=person_box(keypoints, w, h, body_settings().visible), keypoints=keypoints)
        if torso_coverage(person_matte, person) >= s.face_torso_coverage:
            added.append(person)
    return added


def _nose_on(person: Person, face: Box, margin: float) -> bool:
    return holds(face, person.keypoints[0].x, person.keypoints[0].y, margin)


def _on_body(face: Box, person: Person) -> bool:
    """The face's centre is below the person's shoulders, above their lowest point, and
    within the width of their shoulders, hips and legs (arms, which reach out to
    neighbours, left out)."""
    visible = body_settings().visible
    shoulders = [k for k in person.keypoints[11:13] if k.visibility >= visible]
    body = shoulders + [k for k in person.keypoints[23:] if k.visibility >= visible]
    if not shoulders:
        return False
    fx, fy = (face[0] + face[2]) / 2, (face[1] + face[3]) / 2
    below_shoulders = max(k.y for k in shoulders) < fy < max(k.y for k in body)
    return below_shoulders and min(k.x for k in body) <= fx <= max(k.x for k in body)


def _inside(person: Person, other: Person) -> bool:
    """Nearly all of the person's box (limb_inside of its area) lies in the other's box."""
    return intersection(person.box, other.box) >= pose_settings().limb_inside * area(person.box) > 0


def _area(person: Person) -> int:
    return area(person.box)


def _height(person: Person) -> int:
    """How tall a person stands in the photo: the one nearest the camera, who a group shot
    is about, stands tallest. Not the box's area, which a spread arm or a seated pose
    widens (a group's main person is central and near, not the widest)."""
    return person.box[3] - person.box[1]


def torso_coverage(person_matte: np.ndarray, person: Person) -> float:
    """Mean person-matte value inside the shoulder-hip quadrilateral."""
    import cv2

    points = {k.name: (k.x, k.y) for k in person.keypoints}
    quad = np.array([points[n] for n in ("left_shoulder", "right_shoulder", "right_hip", "left_hip")], np.int32)
    mask = np.zeros(person_matte.shape, np.uint8)
    cv2.fillPoly(mask, [quad], 1)
    return float(person_matte[mask > 0].mean()) if mask.any() else 0.0


def _landmarks(rgb: np.ndarray) -> list[Keypoint] | None:
    result = pose_estimator().process(rgb)
    if result.pose_landmarks is None:
        return None
    h, w = rgb.shape[:2]
    return [
        Keypoint(name=LANDMARKS[i], x=lm.x * w, y=lm.y * h, z=lm.z * w, visibility=lm.visibility)
        for i, lm in enumerate(result.pose_landmarks.landmark)
    ]


def _landmarks_with_margin(rgb: np.ndarray, share: float) -> list[Keypoint] | None:
    """BlazePose's detector misses a person who fills the whole frame (tight crops, tiny
    photos); a grey margin gives it the context it was trained with."""
    m = int(share * max(rgb.shape[:2]))
    keypoints = _landmarks(np.pad(rgb, ((m, m), (m, m), (0, 0)), constant_values=127))
    if keypoints is None:
        return None
    return [kp.model_copy(update={"x": kp.x - m, "y": kp.y - m}) for kp in keypoints]


def _is_body(keypoints: list[Keypoint]) -> bool:
    """A real person shows at least a shoulder and either the face or a hip; stray
    detections on objects rarely do with confidence."""
    vis = {k.name for k in keypoints if k.visibility >= body_settings().visible}
    shoulders = {"left_shoulder", "right_shoulder"} & vis
    face = {"nose", "left_eye", "right_eye"} & vis
    hips = {"left_hip", "right_hip"} & vis
    return bool(shoulders) and bool(face or hips)


def estimate_people(rgb: np.ndarray, may_fill_frame: bool = True) -> list[Person]:
    """Everyone in the photo, largest first. BlazePose finds one person per call, so each
    found person is greyed out and the photo searched again. The margin retry, for a
    person who fills the frame, runs only where one may (product photos skip it)."""
    s = pose_settings()
    h, w = rgb.shape[:2]
    work = rgb.copy()
    people: list[Person] = []
    for _ in range(s.max_people):
        keypoints = _landmarks(work)
        if keypoints is None and not people and may_fill_frame:
            keypoints = _landmarks_with_margin(work, s.margin_share)
        if keypoints is None or not _is_body(keypoints):
            break
        box = person_box(keypoints, w, h, body_settings().visible)
        if any(_overlap(box, p.box) > s.same_person_overlap for p in people):
            break  # the same person found again through the grey patch
        people.append(Person(box=box, keypoints=keypoints))
        x0, y0, x1, y1 = box
        work[y0:y1, x0:x1] = 127
    return sorted(people, key=_area, reverse=True)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    smaller = min(area(a), area(b))
    return intersection(a, b) / smaller if smaller > 0 else 0.0

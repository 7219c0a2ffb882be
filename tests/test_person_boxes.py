"""People from the person detector's boxes beside the other evidence, with the real models:
a group member the body search misses is counted from their box, a headless shot gets
keypoints and garment crops from the landmarks run on its box, and a garment the detector
boxes with no face, hand or body beside it stays a product."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import PUBLIC

from services.detect.evidence import faces_on_people, person_matte
from services.detect.persons import person_boxes
from services.pose.people import estimate_people
from shared.domain.records import Options
from shared.engine.photo_state import PhotoState
from shared.engine.stage import Artifacts, StepContext, run_stage_steps
from shared.infra.imageio import read_image
from shared.infra.storage import memory_store

DEV = PUBLIC.parent / "dev"
CLOTHING = PUBLIC.parents[1] / "datasets" / "clothing-small" / "validation"


def photo(path: Path) -> np.ndarray:
    if not path.is_file():
        pytest.skip(f"shared photo {path.name} not found")
    return read_image(path)


def detect_and_pose(rgb: np.ndarray) -> PhotoState:
    """The photo through detect and, where detect may see people, pose: its kind, people
    and garment items, as the pipeline leaves them."""
    store = memory_store()
    ctx = StepContext(
        PhotoState(source="photo.jpg", slug="photo"),
        Artifacts(store, "out", "photo", store, "work"),
        lambda: rgb,
        Options,
    )
    run_stage_steps("detect", ctx)
    if ctx.state.kind == "person":
        run_stage_steps("pose", ctx)
    return ctx.state


def test_a_group_member_the_search_misses_is_counted_from_their_box():
    """Four cheerleaders on one leg: the body search and the faces find three; the fourth,
    her face turned from the camera, is counted from the detector's box, with keypoints."""
    rgb = photo(PUBLIC / "group_06.jpg")
    assert len(estimate_people(rgb)) < 4  # what the search alone finds
    state = detect_and_pose(rgb)
    assert state.kind == "person" and len(state.people) == 4
    for person in state.people:
        assert len(person.keypoints) == 33
        visible = [k for k in person.keypoints if k.visibility >= 0.5]
        assert len(visible) >= 10
    # Four different people: no two torsos in the same place.
    centres = [
        (sum(p.keypoints[i].x for i in (11, 12, 23, 24)) / 4, sum(p.keypoints[i].y for i in (11, 12, 23, 24)) / 4)
        for p in state.people
    ]
    width = rgb.shape[1]
    assert min(abs(a[0] - b[0]) for i, a in enumerate(centres) for b in centres[i + 1 :]) > 0.05 * width


def test_a_headless_shot_is_a_person_with_keypoints_and_a_top():
    """A man tying a tie, cropped at the collar: no face, no body the search finds; the
    detector's box with his hands in it brings his landmarks, and his top is cropped."""
    rgb = photo(DEV / "headless_torso_07.jpg")
    assert estimate_people(rgb) == []  # BlazePose's own detector needs a face
    state = detect_and_pose(rgb)
    assert state.kind == "person" and len(state.people) == 1
    (person,) = state.people
    h, w = rgb.shape[:2]
    shoulders = [k for k in person.keypoints[11:13] if k.visibility >= 0.5 and 0 <= k.x < w and 0 <= k.y < h]
    assert len(shoulders) == 2
    assert "top" in {item.garment for item in state.items}


def test_a_crowd_member_the_model_mistakes_for_a_neighbour_is_found_with_them_hidden():
    """Seven friends arm in arm by a pool: the woman in sunglasses has no face found, and
    on her box the landmark model settles on the neighbour whose face it sees. With the
    people found greyed out beside her box's middle, it finds her: seven, as labelled."""
    rgb = photo(DEV / "group_13.jpg")
    matte = person_matte(rgb)
    faces = faces_on_people(rgb, matte)
    boxes = [box for box, _ in person_boxes(rgb)]
    assert len(faces) == 6  # her sunglasses hide her face from the detector
    state = detect_and_pose(rgb)
    assert state.kind == "person" and len(state.people) == 7
    # Seven different people, not one found twice: no two noses within half a face's width.
    noses = [(p.keypoints[0].x, p.keypoints[0].y) for p in state.people]
    half_face = min(x1 - x0 for x0, _, x1, _ in faces) / 2
    assert min(np.hypot(a[0] - b[0], a[1] - b[1]) for i, a in enumerate(noses) for b in noses[i + 1 :]) > half_face
    assert len(boxes) >= 7


@pytest.mark.parametrize(
    "path",
    [
        PUBLIC / "clothing_white_bg_03.jpg",  # a shirt on white
        CLOTHING / "outwear" / "5f983364-29a4-48f5-8f25-1dd4f220b3ed.jpg",  # a jacket laid flat
        CLOTHING / "outwear" / "ba7624a3-d953-4a17-9003-61f350f5785b.jpg",
        CLOTHING / "longsleeve" / "c6256f9e-0ba4-406e-8143-96c174983f3a.jpg",  # a skin-coloured jumper
        CLOTHING / "dress" / "fe69a500-595a-4152-856a-5c4e537f8507.jpg",  # a dress on a hanger
    ],
    ids=lambda p: p.name,
)
def test_a_garment_the_detector_boxes_stays_a_product(path):
    """The detector boxes garments laid out in a person's shape or on a hanger as people
    (up to 0.97 on these); with no face, hand or body beside the box, the photo stays a
    product, though the person matte covers the garment too."""
    rgb = photo(path)
    assert person_boxes(rgb)
    assert float(person_matte(rgb).max()) >= 0.5
    state = detect_and_pose(rgb)
    assert state.kind == "product" and state.people == []


def test_a_shot_of_legs_and_feet_with_no_face_or_hand_is_a_person():
    """Legs in hand-knitted socks, the photo framed from the thighs down: no face, no hand,
    no body for the search (no shoulders). The detector's box and the landmark model's
    legs seen down to the toes say a person; a trouser laid flat has no feet."""
    rgb = photo(DEV / "legs_shoes_01.jpg")
    matte = person_matte(rgb)
    assert faces_on_people(rgb, matte) == [] and estimate_people(rgb) == []
    state = detect_and_pose(rgb)
    assert state.kind == "person" and len(state.people) == 1
    (person,) = state.people
    feet = [k for k in person.keypoints if k.name.endswith(("heel", "foot_index")) and k.visibility >= 0.5]
    assert len(feet) == 4 and all(k.y > 0.6 * rgb.shape[0] for k in feet)  # the feet at the bottom


@pytest.mark.parametrize(
    "name",
    [
        "train/t-shirt/50c03b15-b03e-4b7f-bd52-6332eca1bea8.jpg",
        "validation/t-shirt/a9b25869-8ee5-4fbd-b3e8-e5067c5f73e7.jpg",
    ],
)
def test_a_figure_printed_on_a_t_shirt_laid_flat_stays_a_product(name):
    """The detector boxes a full-length figure printed on a T-shirt as a person, and the
    landmark model sees its legs down to the toes; but it is a quarter of the photo tall,
    not the photo's subject as a shot of legs is."""
    rgb = photo(CLOTHING.parent / name)
    assert person_boxes(rgb)
    state = detect_and_pose(rgb)
    assert state.kind == "product" and state.people == []

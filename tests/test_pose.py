"""Pose stage with the real BlazePose model: people, keypoints, garment crops, framing.

Garment crops are checked on what the catalog really gets (analyse() items, where
headwear is kept only when the classifier sees a hat), not only on the candidate
regions of garment_regions().
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from conftest import PUBLIC
from skimage import data as samples
from skimage.color import deltaE_ciede2000, rgb2lab

from services.pose.garments import GARMENT_CATEGORIES
from services.pose.people import estimate_people
from services.pose.settings import pose_settings
from shared.domain.body import ASPECTS, LANDMARKS, body_settings, frame, garment_regions
from shared.infra.imageio import read_image

# Keypoints each garment crop must show (when BlazePose sees them).
GARMENT_KEYPOINTS = {
    "top": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "bottom": ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    "shoes": ("left_heel", "right_heel", "left_foot_index", "right_foot_index"),
}

STUDIO = "person_fullbody_plain_03.jpg"  # full length, man, check shirt, black trousers and sneakers
THIGHS = "person_cropped_09.jpg"  # cropped at the thighs: no feet
CAP = "person_cropped_06.jpg"  # woman wearing a black cap
DEV = PUBLIC.parent / "dev"


@pytest.fixture(scope="module")
def studio(public_photo, analysed):
    return analysed("studio", lambda: public_photo(STUDIO))


def garments(result) -> dict[str, object]:
    found = {}
    for r in result.items:
        assert r.item.garment not in found, f"two {r.item.garment} items for one person"
        found[r.item.garment] = r.item
    return found


def seen(kp, width: int, height: int) -> bool:
    return kp.visibility >= body_settings().visible and 0 <= kp.x < width and 0 <= kp.y < height


def inside(box, kp) -> bool:
    x0, y0, x1, y1 = box
    return x0 <= kp.x <= x1 and y0 <= kp.y <= y1


def assert_crops_hold_their_keypoints(items, keypoints_per_person, width: int, height: int) -> int:
    """Each garment item's box holds that garment's visible keypoints; returns how many
    keypoints were checked (so a test can insist it checked something)."""
    checked = 0
    for item in items:
        if item.garment not in GARMENT_KEYPOINTS:
            continue
        points = {kp.name: kp for kp in keypoints_per_person[item.person]}
        for name in GARMENT_KEYPOINTS[item.garment]:
            kp = points[name]
            if seen(kp, width, height):
                assert inside(item.box, kp), (
                    f"{item.garment} crop {item.box} cuts off {name} at ({kp.x:.0f}, {kp.y:.0f})"
                )
                checked += 1
    return checked


# --- people and keypoints --------------------------------------------------------------


def test_studio_photo_has_one_person_with_33_named_keypoints(public_photo):
    rgb = public_photo(STUDIO)
    h, w = rgb.shape[:2]
    people = estimate_people(rgb)
    assert len(people) == 1
    person = people[0]
    assert [kp.name for kp in person.keypoints] == list(LANDMARKS)
    # A full-length photo: the whole body is seen, head to toe.
    visible = {kp.name for kp in person.keypoints if seen(kp, w, h)}
    assert {"nose", "left_shoulder", "right_shoulder", "left_hip", "right_hip", "left_ankle", "right_ankle"} <= visible
    # The person's box lies in the image and holds every visible keypoint.
    x0, y0, x1, y1 = person.box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    for kp in person.keypoints:
        if seen(kp, w, h):
            assert inside(person.box, kp), kp.name
    # The body is the tall, central part of the photo, not a sliver.
    assert (y1 - y0) > 0.8 * h


def test_studio_photo_has_candidate_regions_for_top_bottom_and_shoes(public_photo):
    rgb = public_photo(STUDIO)
    h, w = rgb.shape[:2]
    regions = garment_regions(estimate_people(rgb)[0], w, h, body_settings().visible)
    assert {"top", "bottom", "shoes"} <= set(regions)
    for garment, (x0, y0, x1, y1) in regions.items():
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, garment
    # Top above bottom above shoes.
    centre = {g: (regions[g][1] + regions[g][3]) / 2 for g in ("top", "bottom", "shoes")}
    assert centre["top"] < centre["bottom"] < centre["shoes"]


@pytest.mark.parametrize("name, photo", [("coffee", samples.coffee), ("chelsea (a cat)", samples.chelsea)])
def test_no_person_in_a_photo_without_people(name, photo):
    assert estimate_people(photo()) == []


# --- garment items through the pipeline ---------------------------------------------------


def test_studio_photo_gives_top_bottom_and_shoes_and_no_headwear(studio):
    rgb, result = studio
    assert result.kind == "person" and len(result.people) == 1
    items = garments(result)
    assert set(items) == {"top", "bottom", "shoes"}, "a bare head must not give a headwear item"
    for garment, item in items.items():
        assert item.type == "garment" and item.person == 0
        assert item.category in GARMENT_CATEGORIES[garment]
    assert items["bottom"].category == "clothing/bottoms"  # black trousers


def test_studio_photo_garment_colours_match_the_hand_labels(studio):
    # Hand-picked colours from ../shared/testdata/labels.json: blue check shirt, black
    # trousers, black sneakers. CIEDE2000 10 is "clearly the same colour family".
    labels = {"top": "#5f6a8e", "bottom": "#131315", "shoes": "#101011"}
    _, result = studio
    for garment, item in garments(result).items():
        expected = tuple(int(labels[garment][i : i + 2], 16) for i in (1, 3, 5))
        lab = rgb2lab(np.array([[item.color.rgb, expected]], np.uint8))
        distance = float(deltaE_ciede2000(lab[0, 0], lab[0, 1]))
        assert distance <= 10, f"{garment}: {item.color.hex} is {distance:.1f} from the labelled {labels[garment]}"


def test_studio_photo_crops_hold_their_keypoints(studio):
    rgb, result = studio
    h, w = rgb.shape[:2]
    items = [r.item for r in result.items]
    checked = assert_crops_hold_their_keypoints(items, [p.keypoints for p in result.people], w, h)
    assert checked >= 12  # most of the 14 garment keypoints are seen in a full-length photo
    for r in result.items:
        x0, y0, x1, y1 = r.item.box
        assert r.image.shape == (y1 - y0, x1 - x0, 3)
        assert r.cutout.shape == (y1 - y0, x1 - x0, 4)
        assert np.array_equal(r.image, rgb[y0:y1, x0:x1])


def test_footballer_crops_hold_their_keypoints(catalog_run):
    """Same check through the written manifest, on the committed action photo."""
    record = catalog_run.records["footballer"]
    assert record.status == "ok" and record.kind == "person"
    assert {i.garment for i in record.items} == {"top", "bottom", "shoes"}  # no hat on
    checked = assert_crops_hold_their_keypoints(record.items, record.keypoints, record.width, record.height)
    assert checked >= 10


def test_photo_cropped_at_the_thighs_gives_no_shoes(public_photo, analysed):
    _, result = analysed("thighs", lambda: public_photo(THIGHS))
    assert result.kind == "person"
    items = garments(result)
    assert "shoes" not in items
    assert {"top", "bottom"} <= set(items)  # shirt and trousers are in the photo


def test_astronaut_cut_at_the_chest_gives_no_shoes_and_no_bottom(analysed):
    _, result = analysed("astronaut", samples.astronaut)
    assert result.kind == "person"
    assert not {"shoes", "bottom"} & set(garments(result))
    assert "headwear" not in garments(result)  # bare head


def test_astronaut_upper_body_photo_gives_a_top(analysed):
    _, result = analysed("astronaut", samples.astronaut)
    assert "top" in garments(result)


def test_cap_is_a_headwear_item(public_photo, analysed):
    rgb, result = analysed("cap", lambda: public_photo(CAP))
    h, w = rgb.shape[:2]
    items = garments(result)
    assert "headwear" in items
    cap = items["headwear"]
    assert cap.category == "accessories/hats" and cap.category_score >= 0.2
    # The crop is around the head: it holds the eyes, and it is a small part of the photo.
    points = {kp.name: kp for kp in result.people[0].keypoints}
    for name in ("left_eye", "right_eye"):
        assert inside(cap.box, points[name]), name
    x0, y0, x1, y1 = cap.box
    assert (x1 - x0) * (y1 - y0) < 0.25 * w * h
    assert "shoes" not in items


def test_a_cap_seen_from_behind_is_a_headwear_item(public_photo, analysed):
    # A black cap on a woman seen from behind, long hair over her back: the classifier is
    # less sure of a cap's back than of its peak (0.19 of its belief), but surer than of
    # any bare head of the labelled photos (at most 0.1).
    _, result = analysed("cap from behind", lambda: public_photo("odd_back_view_05.jpg"))
    assert "headwear" in garments(result)


@pytest.mark.skipif(not (DEV / "back_view_02.jpg").exists(), reason="dev photos not found")
def test_a_hat_seen_from_behind_is_a_headwear_item(analysed):
    # A wide-brim felt hat on a woman seen from behind, the photo cut at the hat's crown: the
    # crown above her "eyes" (keypoints on the back of the head) shows too little of it for
    # the classifier; the whole head shows the brim.
    _, result = analysed("hat from behind", lambda: read_image(DEV / "back_view_02.jpg"))
    assert "headwear" in garments(result)
    assert garments(result)["headwear"].category_score >= pose_settings().headwear_min_score


# --- framing -----------------------------------------------------------------------------


ROUNDING = 2.01  # px


def expected_size(box, aspect: str, padding: float) -> tuple[float, float]:
    """Width and height of the framed box before it meets the image edges."""
    w = (box[2] - box[0]) * (1 + 2 * padding)
    h = (box[3] - box[1]) * (1 + 2 * padding)
    ratio = ASPECTS[aspect]
    if ratio:
        w, h = max(w, h * ratio), max(h, w / ratio)
    return w, h


def random_boxes(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        width, height = int(rng.integers(60, 2000)), int(rng.integers(60, 2000))
        if rng.random() < 0.3:  # a garment filling most of the photo
            x0, y0 = int(rng.integers(0, width // 10)), int(rng.integers(0, height // 10))
            x1, y1 = int(rng.integers(width * 9 // 10, width + 1)), int(rng.integers(height * 9 // 10, height + 1))
        else:
            x0, y0 = int(rng.integers(0, width - 1)), int(rng.integers(0, height - 1))
            x1, y1 = int(rng.integers(x0 + 1, width + 1)), int(rng.integers(y0 + 1, height + 1))
        yield (x0, y0, x1, y1), width, height


@pytest.mark.parametrize("aspect", list(ASPECTS))
@pytest.mark.parametrize("padding", [0.0, 0.08, 0.3])
def test_frame_keeps_the_garment_whole_inside_the_image_at_the_preset_ratio(aspect, padding):
    ratio = ASPECTS[aspect]
    fitted = clipped = 0
    for box, width, height in random_boxes(1500, seed=zlib.crc32(f"{aspect} {padding}".encode())):
        framed = frame(box, width, height, aspect, padding)
        fx0, fy0, fx1, fy1 = framed
        assert all(isinstance(v, int) for v in framed)
        assert 0 <= fx0 < fx1 <= width and 0 <= fy0 < fy1 <= height, (box, width, height, framed)
        assert fx0 <= box[0] and fy0 <= box[1] and fx1 >= box[2] and fy1 >= box[3], (
            f"garment cut: {box} framed as {framed} in {width}x{height}"
        )
        fw, fh = fx1 - fx0, fy1 - fy0
        ew, eh = expected_size(box, aspect, padding)
        if ew < width and eh < height:  # fits: the preset's ratio, to pixel rounding
            fitted += 1
            # Rounding outwards to whole pixels adds under 1 px on each side.
            assert abs(fw - ew) <= ROUNDING and abs(fh - eh) <= ROUNDING, (box, width, height, framed, (ew, eh))
            if ratio:
                assert abs(fw - ratio * fh) <= ROUNDING, f"{fw}x{fh} is not {aspect}"
        else:  # larger than the image: clipped to the image where it overflows
            clipped += 1
            if ew >= width:
                assert (fx0, fx1) == (0, width)
            if eh >= height:
                assert (fy0, fy1) == (0, height)
    assert fitted > 100  # both cases were exercised
    if aspect == "free" and padding == 0:
        assert clipped == 0  # the box itself, always inside the image
    else:
        assert clipped > 100


@pytest.mark.parametrize("aspect", ["3:4", "1:1", "4:5"])
def test_frame_at_the_image_edge_moves_the_box_in_and_keeps_the_ratio(aspect):
    ratio = ASPECTS[aspect]
    width, height = 1000, 1200
    for box in [(0, 0, 200, 300), (800, 900, 1000, 1200), (0, 500, 150, 700), (900, 0, 1000, 100)]:
        fx0, fy0, fx1, fy1 = frame(box, width, height, aspect, 0.08)
        assert 0 <= fx0 and 0 <= fy0 and fx1 <= width and fy1 <= height
        assert fx0 <= box[0] and fy0 <= box[1] and fx1 >= box[2] and fy1 >= box[3]
        assert abs((fx1 - fx0) - ratio * (fy1 - fy0)) <= ROUNDING


def test_frame_of_a_box_larger_than_the_image_is_the_whole_image():
    assert frame((0, 0, 400, 300), 400, 300, "3:4", 0.08) == (0, 0, 400, 300)
    assert frame((-50, -50, 900, 900), 400, 300, "1:1", 0.0) == (0, 0, 400, 300)
    # A wide garment in a tall photo, wider than the photo once padded: clipped to the
    # full width, its height still grown to 3:4 of the padded width (673 / 0.75 = 897).
    fx0, fy0, fx1, fy1 = frame((10, 500, 590, 600), 600, 2000, "3:4", 0.08)
    assert (fx0, fx1) == (0, 600)
    assert fy0 <= 500 and fy1 >= 600 and abs((fy1 - fy0) - 580 * 1.16 / 0.75) <= ROUNDING


# --- settings from the environment ------------------------------------------------------


@pytest.fixture
def pose_env(monkeypatch):
    """Set CATALOG_POSE_* variables for one test; the settings are read afresh."""

    def set_env(**values):
        for name, value in values.items():
            monkeypatch.setenv(f"CATALOG_POSE_{name.upper()}", str(value))
        pose_settings.cache_clear()

    yield set_env
    monkeypatch.undo()
    pose_settings.cache_clear()


def test_pose_thresholds_come_from_the_environment(public_photo, pose_env):
    group = public_photo("group_03.jpg")
    assert len(estimate_people(group)) >= 2
    pose_env(max_people=1)
    assert len(estimate_people(group)) == 1
    pose_env(torso_coverage=1.5)  # out of range: refused, naming the setting
    with pytest.raises(ValueError, match="torso_coverage"):
        pose_settings()


class CountingCalls:
    """Counts BlazePose calls (the real model still answers each)."""

    def __init__(self, estimator):
        self.estimator, self.process, self.calls = estimator, estimator.process, 0

    def __enter__(self):
        def counted(rgb):
            self.calls += 1
            return self.process(rgb)

        self.estimator.process = counted
        return self

    def __exit__(self, *exc):
        self.estimator.process = self.process


def test_margin_retry_finds_a_person_who_fills_the_frame_and_skips_products(public_photo):
    """BlazePose misses a person who fills a tiny photo; the retry on a grey margin finds
    them. A product whose person matte covers little of the frame is not retried."""
    from services.detect.evidence import person_matte
    from services.pose.models import pose_estimator
    from services.pose.people import find_people

    tiny = public_photo("tiny_person_02.jpg")
    with CountingCalls(pose_estimator()) as counter:
        assert len(find_people(tiny, person_matte(tiny))) == 1
    assert counter.calls >= 2  # the plain call found no one; the retry did
    watch = public_photo("watch_plain_bg_02.jpg")
    matte = person_matte(watch)
    assert matte.max() >= 0.5  # detect would send it to pose
    with CountingCalls(pose_estimator()) as counter:
        assert find_people(watch, matte) == []
    assert counter.calls == 1

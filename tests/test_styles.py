"""Style guides: the schema's errors, and the geometry each guide gives on real photos,
read back from the manifest (keypoints, crop boxes) and the images written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import FIXTURES, FOOTBALLER, PUBLIC
from PIL import Image

from catalog.runner import run
from shared.domain.body import body_settings
from shared.domain.framing import preview
from shared.domain.records import Keypoint, Options
from shared.domain.styles import GuideError, builtin_guides, load_guide, parse_guide

SOLES = ("left_heel", "right_heel", "left_foot_index", "right_foot_index")
# One guide with a rule of each kind the checks need.
GEOMETRY = """
name: geometry-check
outputs:
  look:
    anchor: {ref: eyes, at: 12}
    bottom: {ref: soles, offset: 4, unit: percent, side: below}
    size: [600, 800]
  top:
    top: {ref: mouth, offset: 0.05, unit: head, side: below}
    bottom: {ref: garment, offset: 6, unit: percent, side: below}
    horizontal: garment
    aspect: "3:4"
product:
  fill: 84
  align: bottom
  baseline: 90
  size: [600, 600]
"""


def point(record: dict, person: int, *names: str) -> np.ndarray | None:
    """Mean of the named points of a person seen in the photo (visible, inside the frame)."""
    visible = body_settings().visible
    seen = [
        (k["x"], k["y"])
        for k in record["keypoints"][person]
        if k["name"] in names
        and k["visibility"] >= visible
        and 0 <= k["x"] < record["width"]
        and 0 <= k["y"] < record["height"]
    ]
    return np.mean(seen, axis=0) if seen else None


@pytest.fixture(scope="module")
def public_run(public_dir, tmp_path_factory):
    """Every public photo through the whole pipeline with the geometry guide."""
    out = tmp_path_factory.mktemp("styled")
    options = Options(style=parse_guide(GEOMETRY), format="png", background="transparent")
    run(sorted(public_dir.glob("*.jpg")), out, options)
    labels = {lab["file"]: lab for lab in json.loads((public_dir.parent / "labels.json").read_text())}
    return out, json.loads((out / "manifest.json").read_text()), labels


# --- the schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name: x\noutputs: {look: {top: {ref: nose}, bottom: {ref: soles}, tpo: 1}}", ["outputs.look.tpo", "Extra"]),
        ("name: x\noutputs: {top: {top: {ref: ear}, bottom: {ref: garment}}}", ["outputs.top.top.ref", "'nose'"]),
        ("name: x\noutputs: {look: {top: {ref: nose}}}", ["outputs.look", "exactly two of top, bottom and anchor"]),
        ("name: x\noutputs: {look: {top: {ref: nose, offset: 1}, bottom: {ref: soles}}}", ["outputs.look.top", "side"]),
        ("name: x\noutputs: {look: {anchor: {ref: eyes, at: 120}, bottom: {ref: soles}}}", ["outputs.look.anchor.at"]),
        ("name: Bad Name\nproduct: {fill: 80}", ["name", "pattern"]),
        ("name: x\nproduct: {fill: 80, size: [10, 10]}", ["product.size", "16 to 8192"]),
        ("name: x\nproduct: {background: blue}", ["product.background", "invalid background"]),
        ("name: x", ["at least one output or a product rule"]),
        ("[1, 2]", ["a mapping"]),
        ("name: [", ["not YAML or JSON"]),
    ],
)
def test_a_bad_guide_names_the_field_and_the_rule(text, names):
    with pytest.raises(GuideError) as caught:
        parse_guide(text)
    for name in names:
        assert name in str(caught.value)


def test_the_hash_is_of_the_rules_not_the_writing():
    guide = parse_guide(GEOMETRY)
    as_json = json.dumps(json.loads(guide.model_dump_json()), indent=4, sort_keys=True)
    assert parse_guide(as_json).sha256 == guide.sha256
    changed = GEOMETRY.replace("at: 12", "at: 13")
    assert parse_guide(changed).sha256 != guide.sha256


def test_builtin_guides_load_by_name_and_files_by_path(tmp_path):
    assert {"full-look", "headless", "head-to-knees", "marketplace-square"} <= set(builtin_guides())
    path = tmp_path / "mine.yaml"
    path.write_text(GEOMETRY)
    assert load_guide(str(path)).name == "geometry-check"
    with pytest.raises(GuideError, match="no built-in guide and no file"):
        load_guide("no-such-guide")


# --- geometry on the public photos -----------------------------------------------------------


def test_the_eyes_land_on_the_anchor_line_in_every_full_body_photo(public_run):
    out, manifest, labels = public_run
    checked = 0
    for record in manifest["images"]:
        if not labels[record["source"].rsplit("/", 1)[-1]]["main_person_fullbody"]:
            continue
        assert record["status"] == "ok" and record["kind"] == "person", record["source"]
        looks = [i for i in record["items"] if i["type"] == "look"]
        skipped = {s["person"]: s["reason"] for s in record["skipped"] if s["output"] == "look"}
        for index in range(record["people"]):
            eyes = point(record, index, "left_eye", "right_eye")
            if eyes is None or point(record, index, *SOLES) is None:
                assert index in skipped, f"{record['source']}: person {index} has no eyes or soles but a look"
                continue
            (look,) = [i for i in looks if i["person"] == index]
            x0, y0, x1, y1 = look["box"]
            assert (eyes[1] - y0) / (y1 - y0) == pytest.approx(0.12, abs=0.01), record["source"]
            assert look["size"] == [600, 800]
            with Image.open(out / look["files"]["image"]) as image:
                assert image.size == (600, 800)
            checked += 1
    assert checked >= 8  # the public set has 13 full-body photos


def test_the_mouth_lies_above_a_crop_that_starts_below_the_mouth(public_run):
    _, manifest, _ = public_run
    tops = 0
    for record in manifest["images"]:
        for item in record["items"]:
            if item["garment"] != "top":
                continue
            mouth = point(record, item["person"], "mouth_left", "mouth_right")
            if mouth is not None:
                assert mouth[1] < item["box"][1], record["source"]
                tops += 1
    assert tops >= 8


def test_every_packshot_has_the_same_fill_and_baseline(public_run):
    out, manifest, _ = public_run
    shots = 0
    for record in manifest["images"]:
        if record["kind"] != "product":
            continue
        for item in record["items"]:
            with Image.open(out / item["files"]["image"]) as image:
                assert image.size == (600, 600)
                alpha = np.array(image.getchannel("A")) > 127
            ys, xs = np.nonzero(alpha)
            longer = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
            assert longer / 600 == pytest.approx(0.84, abs=0.01), record["source"]
            assert (ys.max() + 1) / 600 == pytest.approx(0.90, abs=0.01), record["source"]
            shots += 1
    assert shots >= 15


def test_the_manifest_names_the_guide_that_made_each_image(public_run):
    _, manifest, _ = public_run
    sha = parse_guide(GEOMETRY).sha256
    assert all(r["style"] == {"name": "geometry-check", "sha256": sha} for r in manifest["images"])


def test_headless_keeps_every_crop_below_the_nose(public_run):
    """The built-in `headless` on every person the public photos show (the framing the
    pose worker runs, on the keypoints of the manifest)."""
    _, manifest, _ = public_run
    headless = builtin_guides()["headless"]
    checked = 0
    for record in manifest["images"]:
        if record["kind"] != "person":
            continue
        people = [[Keypoint(**k) for k in person] for person in record["keypoints"]]
        framed, _ = preview(headless, people, record["width"], record["height"], body_settings().visible)
        for output, person, crop in framed:
            nose = point(record, person, "nose")
            if nose is not None:
                assert nose[1] < crop.box[1], f"{record['source']}: {output} of person {person}"
                checked += 1
    assert checked >= 20


# --- whole runs with built-in guides -----------------------------------------------------------


def test_headless_run_writes_styled_images_below_the_nose(tmp_path):
    manifest = run([FOOTBALLER], tmp_path, Options(style=load_guide("headless")))
    (record,) = manifest.images
    assert record.style and record.style.name == "headless"
    nose = next(k for k in record.keypoints[0] if k.name == "nose")
    kinds = {i.garment or i.type for i in record.items}
    assert "look" in kinds and "headwear" not in kinds  # the guide makes no headwear crop
    for item in record.items:
        assert nose.y < item.box[1]
    look = next(i for i in record.items if i.type == "look")
    with Image.open(tmp_path / look.files.image) as image:
        assert image.size == (1200, 1600)


def test_a_photo_that_cannot_follow_the_guide_fails_that_output_alone(tmp_path, public_photo):
    public_photo("person_cropped_06.jpg")  # skips without the public photos
    photos = [FOOTBALLER, PUBLIC / "person_cropped_06.jpg", FIXTURES / "cosmetics_white_bg_06.jpg"]
    manifest = run(photos, tmp_path, Options(style=load_guide("head-to-knees")))
    footballer, cropped, bottle = manifest.images
    assert [i.type for i in footballer.items] == ["look"] and not footballer.skipped
    assert cropped.status == "ok" and not cropped.items
    (skip,) = cropped.skipped
    assert skip.output == "look" and "knees" in skip.reason, skip  # a shot cut above the knees
    # No packshot rule: the product is cut out as without a guide.
    assert bottle.status == "ok" and bottle.items and bottle.items[0].size is None

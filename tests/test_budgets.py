"""Every input gets a bounded amount of work: a photo's working size, a file too short for
its header, a style guide's output size, crop and nesting, a file name's length, and what an
internal fault tells the user. The worker memory each case costs is measured by
bench/budgets.py against the real cluster; here each bound is asserted where a user meets it
(the CLI run, the styles API in front of the real cluster)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from conftest import FOOTBALLER
from PIL import Image
from test_gateway import client

from catalog.runner import run
from shared.domain.framing import preview
from shared.domain.records import MAX_SLUG, Keypoint, slugify
from shared.domain.styles import MAX_GUIDE_DEPTH, GuideError, parse_guide
from shared.engine.stage import internal_error
from shared.infra.imageio import ImageError, check_header, decode_image, upright_size
from shared.infra.settings import settings

# The guide that asked for a 22459x29944 px crop of a 768x1024 photo: 100 heads above the
# eyes and below the soles, padded.
HUGE_OFFSETS = (
    '{"name":"g","outputs":{"look":{"top":{"ref":"eyes","offset":100,"unit":"head","side":"above"},'
    '"bottom":{"ref":"soles","offset":100,"unit":"head","side":"below"},"on_fail":"pad"}}}'
)
DEEP = "[" * 500 + "]" * 500


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def claiming(data: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header is rewritten to claim width x height."""
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", height, width) + data[at + 4 :]


# --- photos ---------------------------------------------------------------------------------


def test_a_jpeg_too_short_for_its_header_is_refused_as_truncated():
    small = jpeg(Image.effect_noise((300, 300), 60).convert("RGB"), quality=80)
    lying = claiming(small, 7000, 7000)  # 6 KB that would decode as 49 MP of grey
    for check in (check_header, decode_image):
        with pytest.raises(ImageError, match="truncated: its header says 7000x7000"):
            check(lying)
    assert decode_image(small).shape == (300, 300, 3)


def test_a_plain_photo_compressed_hard_is_not_taken_for_truncated():
    white = jpeg(Image.new("L", (4000, 3000), 255), quality=50)  # the least a real file holds
    assert check_header(white) == (4000, 3000)
    progressive = jpeg(Image.new("RGB", (4000, 3000), (200, 30, 30)), quality=50, progressive=True)
    assert check_header(progressive) == (4000, 3000)


def test_a_photo_over_the_working_size_is_decoded_shrunk():
    big = jpeg(Image.new("RGB", (6000, 4000), (30, 90, 200)), quality=80)
    rgb = decode_image(big, working_pixels=settings().working_pixels)
    h, w = rgb.shape[:2]
    assert h * w <= settings().working_pixels and abs(w / h - 1.5) < 0.01
    assert upright_size(big) == (6000, 4000)
    assert decode_image(big).shape == (4000, 6000, 3)  # without a working size: whole


def test_the_catalog_of_a_large_photo_says_the_size_it_came_in(tmp_path):
    """A 24 MP photo runs at the working size; its record says both sizes."""
    photo = Image.open(FOOTBALLER).convert("RGB")
    scale = (24e6 / (photo.width * photo.height)) ** 0.5
    large = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.BICUBIC)
    (tmp_path / "large.jpg").write_bytes(jpeg(large, quality=85))
    (record,) = run([tmp_path / "large.jpg"], tmp_path / "out").images
    assert record.status == "ok" and record.kind == "person", record.error
    assert record.scaled_from == large.size
    assert record.width * record.height <= settings().working_pixels
    assert record.items and all((tmp_path / "out" / i.files.image).is_file() for i in record.items if i.files)


# --- names ----------------------------------------------------------------------------------


def test_a_long_file_name_makes_a_bounded_unique_folder(tmp_path):
    taken: set[str] = set()
    first, second = slugify("B" * 300 + ".jpg", taken), slugify("B" * 300 + ".png", taken)
    assert len(first) <= MAX_SLUG and len(second) <= MAX_SLUG + 4 and first != second
    photo = jpeg(Image.open(FOOTBALLER).convert("RGB").resize((240, 320)))
    (tmp_path / ("B" * 250 + ".jpg")).write_bytes(photo)
    (record,) = run([tmp_path], tmp_path / "out").images
    assert record.status == "ok", record.error


def test_an_internal_fault_names_its_kind_and_no_server_path():
    fault = OSError(36, "File name too long", "/srv/catalog/blobs/jobs/abc/catalog/" + "B" * 300)
    said = internal_error("the color stage", fault)
    assert said == "internal error in the color stage: OSError (File name too long)"
    assert "/srv" not in internal_error("processing", KeyError("/srv/catalog/secret"))


# --- style guides ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, words",
    [
        (HUGE_OFFSETS, "outputs.look: the rules can ask for a crop 201.0 times the photo's height"),
        (DEEP, f"nests too deeply (at most {MAX_GUIDE_DEPTH} levels)"),
        ("name: g\nproduct: {size: [8192, 8192]}", "product.size: 8192x8192 is 67.1 megapixels"),
        ('{"name":"g","outputs":{"look":{"top":{"ref":"eyes"},"bottom":{"ref":"soles"},"aspect":"1:400"}}}', "1:10"),
        (
            "name: g\noutputs: {look: {top: {ref: eyes, offset: 49, unit: percent, side: above},"
            " bottom: {ref: soles, offset: 49, unit: percent, side: below}}}",
            "crop 50.0 times",
        ),
        ("a: &a [x, x]\n" + "".join(f"b{i}: *a\n" for i in range(70)), "alias"),
    ],
    ids=["offsets", "nesting", "size", "aspect", "percents", "aliases"],
)
def test_a_guide_that_could_ask_for_unbounded_work_is_refused_naming_the_rule(text, words):
    with pytest.raises(GuideError, match=None) as refused:
        parse_guide(text)
    assert words in str(refused.value)


def test_the_styles_api_refuses_such_guides_with_422(gateway):
    with client(gateway) as http:
        for text in (HUGE_OFFSETS, DEEP):
            saved = http.post("/v1/styles", content=text, headers={"Content-Type": "application/json"})
            assert saved.status_code == 422 and "invalid style guide" in saved.json()["detail"], saved.text
            shown = http.post("/v1/styles/preview", json={"guide": text, "width": 768, "height": 1024, "keypoints": []})
            assert shown.status_code == 422 and "invalid style guide" in shown.json()["detail"], shown.text


def standing_person(width: int, height: int, mouth: float = 0.08) -> list[Keypoint]:
    """33 BlazePose keypoints of a person standing in the middle of the photo, eyes to soles;
    the mouth `mouth` of the photo's height from the top (far below the eyes, it gives a
    head taller than the photo, as a face close-up over a body would)."""
    from shared.domain.body import LANDMARKS

    ys = {"nose": 0.05, "eye": 0.03, "ear": 0.04, "mouth": mouth, "shoulder": 0.18, "elbow": 0.35, "wrist": 0.5}
    ys |= {"pinky": 0.52, "index": 0.52, "thumb": 0.51, "hip": 0.52, "knee": 0.75, "ankle": 0.95}
    ys |= {"heel": 0.97, "foot_index": 0.99}
    points = []
    for name in LANDMARKS:
        part = (
            "mouth"
            if name.startswith("mouth")
            else name.split("_", 1)[-1].removesuffix("_inner").removesuffix("_outer")
        )
        side = -1 if "left" in name else 1 if "right" in name else 0
        y, x = ys[part] * height, width / 2 + side * 0.05 * width
        points.append(Keypoint(name=name, x=x, y=y, z=0.0, visibility=1.0))
    return points


def test_a_guide_within_bounds_that_a_photo_still_cannot_follow_skips_it_saying_why():
    """One head above the eyes and one below the soles is at most three photos tall for a
    head as tall as the photo; a head measured taller gives a crop past the cap, and the
    output is skipped with the reason, never made."""
    guide = parse_guide(
        "name: g\noutputs: {look: {top: {ref: eyes, offset: 1, unit: head, side: above},"
        " bottom: {ref: soles, offset: 1, unit: head, side: below}, on_fail: pad}}"
    )
    framed, skipped = preview(guide, [standing_person(768, 1024)], 768, 1024, 0.5)
    assert [f[0] for f in framed] == ["look"] and not skipped
    framed, skipped = preview(guide, [standing_person(768, 1024, mouth=0.9)], 768, 1024, 0.5)
    assert not framed and "over 4 times this photo's 768x1024" in skipped[0].reason


def test_a_crop_with_no_size_is_shrunk_to_the_output_cap(tmp_path):
    guide = parse_guide(
        "name: g\noutputs: {look: {top: {ref: eyes, offset: 1, unit: head, side: above},"
        " bottom: {ref: soles, offset: 1, unit: head, side: below}, on_fail: pad}}"
    )
    framed, _ = preview(guide, [standing_person(3000, 4000)], 3000, 4000, 0.5)
    (_, _, look) = framed[0]
    w, h = look.size
    assert w * h <= settings().max_output_pixels and look.box[3] - look.box[1] > h
    assert any("shrunk" in warning for warning in look.warnings)
    assert np.isclose(w / h, (look.box[2] - look.box[0]) / (look.box[3] - look.box[1]), atol=0.01)

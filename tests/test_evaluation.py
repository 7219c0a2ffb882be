"""catalog eval: scores against a labels file, on committed photos with real models."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES

LABELS = [
    {
        "file": "person_fullbody_scene_12.jpg",
        "kind": "person",
        "persons": 1,
        "garments_visible": ["top", "bottom", "shoes"],
        "garment_colours": {"bottom": {"name": "red", "hex": "#6d1a2b"}},
        "product_category": "model",
        "product_categories_ok": [],
        "product_colour": None,
    },
    {
        "file": "cosmetics_white_bg_06.jpg",
        "kind": "product",
        "persons": 0,
        "garments_visible": [],
        "garment_colours": {},
        "product_category": "background-other",
        "product_categories_ok": ["cosmetics/skincare"],
        "product_colour": {"name": "multicolour"},
    },
    # Deliberately wrong: a scene with nobody in it, labelled as two people in hats.
    {
        "file": "scene_noperson_06.jpg",
        "kind": "person",
        "persons": 2,
        "garments_visible": ["headwear"],
        "garment_colours": {},
        "product_category": "model",
        "product_categories_ok": [],
        "product_colour": None,
    },
]
REQUIRED = [
    "kind_accuracy",
    "people_count_accuracy",
    "garments",
    "taxonomy_top1",
    "taxonomy_top3",
    "colour_name_agreement",
    "colour_de2000_median",
    "colour_de2000_p90",
    "failures",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    labels = folder / "labels.json"
    labels.write_text(json.dumps(LABELS))
    out = folder / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "catalog.cli",
            "eval",
            str(labels),
            "--images",
            str(FIXTURES),
            "--report",
            str(out),
            "--out",
            str(folder / "catalog"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text()), done.stdout


def test_report_has_every_measure(report):
    result, _ = report
    assert all(key in result for key in REQUIRED)
    assert set(result["garments"]) == {"top", "bottom", "headwear", "shoes"}


def test_scores_count_right_and_wrong_photos(report):
    result, _ = report
    # The footballer and the bottle are judged right; the mislabelled scene is not.
    assert result["kind_accuracy"] == pytest.approx(2 / 3, abs=0.01)
    assert result["people_count_accuracy"] == pytest.approx(2 / 3, abs=0.01)
    assert result["taxonomy_top1"] == 1.0  # the bottle: background-other or skincare
    assert result["garments"]["top"]["recall"] == 1.0
    assert result["garments"]["headwear"]["recall"] == 0.0  # the "hats" on the scene


def test_failures_name_the_photo_and_the_problem(report):
    result, stdout = report
    by_file = {f["file"]: f["problems"] for f in result["failures"]}
    assert "scene_noperson_06.jpg" in by_file
    assert any("kind" in p and "person" in p for p in by_file["scene_noperson_06.jpg"])
    assert any("people" in p for p in by_file["scene_noperson_06.jpg"])
    assert "scene_noperson_06.jpg" in stdout
    sheet = Path(result["contact_sheet"])
    assert sheet.is_file() and sheet.stat().st_size > 1000


def test_review_flags_are_scored_as_a_team_that_trusts_the_unflagged_items_sees_them(report):
    result, stdout = report
    # One product, the bottle, filed right (test_scores_count_right_and_wrong_photos): if it
    # is trusted, the trusted products are all right; if flagged, none is left to score.
    assert result["products_flagged"] in (0.0, 1.0)
    assert result["taxonomy_top1_unflagged"] == (None if result["products_flagged"] else 1.0)
    (entry,) = result["colours"]
    assert isinstance(entry["needs_review"], bool) and isinstance(entry["colour_flagged"], bool)
    # The colour's own flag, and the whole item's (flagged for its kind or crop too).
    assert result["colours_flagged"] == float(entry["colour_flagged"])
    assert result["colours_of_flagged_items"] == float(entry["needs_review"])
    assert entry["needs_review"] or not entry["colour_flagged"]
    unflagged = None if entry["colour_flagged"] else float(entry["agrees"])
    assert result["colour_name_agreement_unflagged"] == unflagged
    assert "colour_name_agreement_unflagged" in stdout and "products_flagged" in stdout


def test_per_category_breakdown(report):
    result, _ = report
    assert set(result["per_category"]) == {"model", "background-other"}
    assert result["per_category"]["background-other"]["taxonomy_top1"] == 1.0


def test_each_colour_compared_shows_both_colours_and_their_distance(report):
    """A reader of the report sees the labelled and the reported colour side by side, and
    the distance between exactly those two."""
    from skimage.color import deltaE_ciede2000

    from services.color.color_names import lab_of

    result, _ = report
    (entry,) = result["colours"]  # the footballer's shorts, the one colour labelled
    assert entry["photo"] == "person_fullbody_scene_12.jpg" and entry["what"] == "bottom"
    assert entry["expected_hex"] == "#6d1a2b"
    got = entry["got_hex"]
    assert re.fullmatch(r"#[0-9a-f]{6}", got)
    rgb = [tuple(int(h[i : i + 2], 16) for i in (1, 3, 5)) for h in (entry["expected_hex"], got)]
    assert entry["de2000"] == pytest.approx(float(deltaE_ciede2000(lab_of(rgb[0]), lab_of(rgb[1]))))


def test_a_colour_named_by_one_of_its_also_words_agrees_and_the_word_alone_is_reported_too():
    """Dark-wash jeans labelled blue, also navy: a navy reading agrees; the figure for the
    labelled word alone still counts it as a miss, so the difference `also` makes shows."""
    from catalog.evaluation import _new_counts, _summary, score_photo
    from shared.domain.records import ColorResult, ImageRecord, Item, ItemFiles

    navy = ColorResult(hex="#1c2450", rgb=(28, 36, 80), name="navy", css_name="midnightblue", palette=[])
    jeans = Item(type="garment", garment="bottom", person=0, box=(0, 0, 10, 10), files=ItemFiles(image="b.jpg"))
    record = ImageRecord(source="jeans.jpg", status="ok", kind="person", people=1, items=[jeans])
    record.items[0].color = navy
    label = {"file": "jeans.jpg", "kind": "person", "persons": 1, "garments_visible": ["bottom"]}
    for also in ([], ["navy"]):
        colour = {"name": "blue", "hex": "#1c2450", "also": also}
        counts, colours = _new_counts(), []
        photo = score_photo({**label, "garment_colours": {"bottom": colour}}, record, counts, colours, [])
        result = _summary(counts, colours)
        assert result["colour_name_agreement_word_only"] == 0.0
        assert result["colour_name_agreement"] == (1.0 if also else 0.0)
        assert any("colour" in p for p in photo["problems"]) == (not also)


def test_each_flag_is_measured_on_photos_it_was_not_fitted_on(report):
    """One labelled set: each fitted flag is measured on each photo fitted on the others."""
    result, stdout = report
    for piece in ("products", "colours"):
        measured = result["cross_fit"][piece]["fixtures"]
        assert measured["fitted_on"] == "fixtures, its other photos"
    assert result["cross_fit"]["colours"]["fixtures"]["items"] == len(result["colours"])
    assert "cross-fit" in stdout

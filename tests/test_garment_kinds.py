"""A person's top and bottom are filed under the kind of garment they are: a dress is the
dress on top and below, a fitted top is not a swimsuit and trousers are not swimming trunks.
The classifier's belief in each kind, from the garment's crop and the whole outfit, is made
a probability by a model fitted on labelled photos (bench/garment_kinds.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.pose.garment_kinds import garment_kind, kind_mass, kind_probabilities
from services.pose.garments import GARMENT_CATEGORIES
from services.pose.settings import pose_settings
from shared.domain.review import review_settings
from shared.domain.taxonomy import imagenet_categories

TOP = GARMENT_CATEGORIES["top"]
LABELS = Path(__file__).resolve().parents[1] / "bench" / "garment_kinds.json"
SWIMWEAR = "clothing/swimwear-underwear"
DRESS = "clothing/dresses"
DRESSES = ("person_fullbody_plain_09.jpg", "person_fullbody_plain_16.jpg")  # a cream midi, a black maxi


def softmax_on(**classes: float) -> np.ndarray:
    """A 1000-class softmax with the named ImageNet classes' probabilities, the rest spread
    over the others."""
    names = imagenet_categories()
    probs = np.full(len(names), (1 - sum(classes.values())) / (len(names) - len(classes)))
    for name, p in classes.items():
        probs[names.index(name.replace("_", " "))] = p
    return probs


def test_slope_one_and_no_biases_keep_the_classifiers_order():
    mass = np.array([0.30, 0.05, 0.10, 0.20])
    p = kind_probabilities(mass, TOP, 1.0, {})
    assert p.sum() == pytest.approx(1.0)
    assert list(np.argsort(-p)) == list(np.argsort(-mass))


def test_a_kind_with_a_bias_against_it_needs_more_belief_to_win():
    mass = np.array([0.20, 0.0, 0.0, 0.25])  # a little more swimsuit than top
    assert np.argmax(kind_probabilities(mass, TOP, 1.0, {})) == TOP.index(SWIMWEAR)
    p = kind_probabilities(mass, TOP, pose_settings().garment_kind_slope, pose_settings().garment_kind_bias)
    assert TOP[int(np.argmax(p))] == "clothing/tops"
    assert p.sum() == pytest.approx(1.0)


def test_a_crop_the_classifier_calls_a_swimsuit_outright_stays_swimwear():
    kind = garment_kind([softmax_on(bikini=0.6, maillot=0.2)] * 2, TOP)
    assert kind.category == SWIMWEAR and kind.score > 0.5


def test_no_opinion_keeps_the_most_common_kind_and_says_it_is_unsure():
    # A crop the classifier sees as a ball, with a hint of a gown: too little belief in any
    # kind of top to go by (the model alone would make it a dress), so the most common kind
    # is kept, and its score sends it to review.
    probs = softmax_on(soccer_ball=0.96, gown=0.03)
    s = pose_settings()
    model_alone = kind_probabilities(kind_mass([probs], TOP), TOP, s.garment_kind_slope, s.garment_kind_bias)
    assert TOP[int(np.argmax(model_alone))] == DRESS
    kind = garment_kind([probs], TOP)
    assert kind.category == "clothing/tops"
    assert kind.score < review_settings().garment_category_min_score


@pytest.fixture(scope="module")
def main_garments():
    """The first person's garment items of a photo, as the pose stage files them."""
    from services.detect.evidence import faces_on_people, person_matte
    from services.pose.garments import garment_items
    from services.pose.people import find_people
    from shared.domain.records import Options

    def run(rgb: np.ndarray) -> dict:
        matte = person_matte(rgb)
        people = find_people(rgb, matte, faces_on_people(rgb, matte))
        items, _ = garment_items(rgb, people[:1], Options()) if people else ([], [])
        return {item.garment: item for item in items}

    return run


def test_the_footballers_shirt_and_shorts(main_garments, footballer):
    garments = main_garments(footballer)
    assert garments["top"].category == "clothing/tops"
    assert garments["bottom"].category == "clothing/bottoms"


@pytest.mark.parametrize("name", DRESSES)
def test_a_dress_is_the_dress_on_top_and_below(main_garments, public_photo, name):
    garments = main_garments(public_photo(name))
    assert garments["top"].category == garments["bottom"].category == "clothing/dresses"


def test_on_labelled_photos_most_kinds_are_right_and_nothing_dry_is_swimwear(main_garments, public_photo):
    # The public photos' main people: 34 tops and bottoms, none of them swimwear. The
    # classifier alone got 0.62 of them right and called 5 swimwear.
    graded = []
    for name, kinds in json.loads(LABELS.read_text())["public"].items():
        garments = main_garments(public_photo(name))
        graded += [(garments[g].category, truth) for g, truth in kinds.items() if g in garments]
    assert len(graded) >= 30
    assert np.mean([got == truth for got, truth in graded]) >= 0.75
    assert not [got for got, _ in graded if got == SWIMWEAR]

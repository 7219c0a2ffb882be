"""Person or product with the real models (detect's person matte, then pose's bodies), and
classification into the catalog taxonomy (EfficientNet-Lite2's ImageNet softmax folded into
categories, as pose asks it for garments and segment for products)."""

from __future__ import annotations

import pytest
from conftest import SCENE
from skimage import data as samples

from services.detect.evidence import may_show_people, person_matte
from services.pose.garments import GARMENT_CATEGORIES
from services.pose.people import estimate_people, find_people
from services.pose.settings import pose_settings
from services.segment.settings import segment_settings
from shared.domain import classifier
from shared.domain.body import LANDMARKS, body_settings, garment_regions
from shared.domain.taxonomy import BACKGROUND
from shared.infra.imageio import read_image


def people_in(rgb):
    """The people the chain finds: detect's matte says whether to look, pose confirms bodies."""
    matte = person_matte(rgb)
    return find_people(rgb, matte) if may_show_people(matte) else []


def classify(rgb):
    return classifier.classify(classifier.imagenet_probs(rgb)[0], segment_settings().item_min_score)


def best_within(rgb, allowed):
    return classifier.best_within(classifier.imagenet_probs(rgb)[0], allowed, pose_settings().garment_min_score)


def headwear_score(rgb):
    return classifier.headwear_score(classifier.imagenet_probs(rgb)[0])


def assert_well_formed(c) -> None:
    """The classification's own promises: the chosen category first in top3, three
    different categories, the rest by descending score, probabilities in [0, 1]."""
    assert len(c.top3) == 3
    assert len({s.category for s in c.top3}) == 3
    assert c.top3[0].category == c.category and c.top3[0].score == c.score
    rest = [s.score for s in c.top3[1:]]
    assert rest == sorted(rest, reverse=True)
    assert all(0 <= s.score <= 1 for s in c.top3)
    assert sum(s.score for s in c.top3) <= 1.0001
    assert len(c.imagenet_top) == 5
    scores = [s.score for s in c.imagenet_top]
    assert scores == sorted(scores, reverse=True)


# --- person or product -------------------------------------------------------------------


def test_footballer_is_one_person(footballer):
    people = people_in(footballer)
    # One player in the photo; the blurred crowd behind him is not a catalog model.
    assert len(people) == 1
    person = people[0]
    assert [kp.name for kp in person.keypoints] == list(LANDMARKS)
    x0, y0, x1, y1 = person.box
    h, w = footballer.shape[:2]
    assert (x1 - x0) * (y1 - y0) > 0.3 * w * h  # the player, not a face in the crowd


@pytest.mark.parametrize(
    "name, load",
    [
        ("coffee", samples.coffee),
        ("chelsea (a cat)", samples.chelsea),
        ("scene without people", lambda: read_image(SCENE)),
    ],
)
def test_photos_without_people_are_products(name, load):
    assert people_in(load()) == []


def test_supplement_bottle_packshot_is_a_product(bottle):
    assert people_in(bottle) == []


# --- classification ----------------------------------------------------------------------


def test_coffee_is_a_drink():
    c = classify(samples.coffee())
    assert_well_formed(c)
    assert c.category == "food/drinks"
    assert c.score > 0.5
    assert c.imagenet_top[0].category in {"espresso", "cup", "coffee mug"}


def test_supplement_bottle_is_cosmetics_or_other(bottle):
    # Dietary supplements are not in the taxonomy: background-other is right, a
    # cosmetics category acceptable (the hand label allows cosmetics/skincare).
    c = classify(bottle)
    assert_well_formed(c)
    assert c.category == BACKGROUND or c.category.startswith("cosmetics/")
    assert any(s.category.startswith("cosmetics/") for s in c.top3)
    assert c.imagenet_top[0].category in {"pill bottle", "lotion", "sunscreen"}


def test_cat_is_not_a_catalog_product():
    c = classify(samples.chelsea())
    assert_well_formed(c)
    assert c.category == BACKGROUND
    assert "cat" in c.imagenet_top[0].category.lower()


def test_scene_without_product_is_background_other():
    c = classify(read_image(SCENE))
    assert_well_formed(c)
    assert c.category == BACKGROUND


# --- garment crops -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def studio_regions(public_photo):
    rgb = public_photo("person_fullbody_plain_03.jpg")
    h, w = rgb.shape[:2]
    return rgb, garment_regions(estimate_people(rgb)[0], w, h, body_settings().visible)


def crop(rgb, box):
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def test_best_within_names_the_trousers(studio_regions):
    rgb, regions = studio_regions
    bottom = best_within(crop(rgb, regions["bottom"]), GARMENT_CATEGORIES["bottom"])
    assert bottom.category == "clothing/bottoms" and bottom.score > 0.3
    top = best_within(crop(rgb, regions["top"]), GARMENT_CATEGORIES["top"])
    assert top.category in GARMENT_CATEGORIES["top"]


def test_best_within_only_answers_allowed_categories(studio_regions):
    rgb, regions = studio_regions
    # Trousers asked to be shoes: still one of the shoe categories, never a bottom.
    answer = best_within(crop(rgb, regions["bottom"]), GARMENT_CATEGORIES["shoes"])
    assert answer.category in GARMENT_CATEGORIES["shoes"]
    assert 0 <= answer.score <= 1


def test_headwear_score_sees_a_cap_and_not_a_bare_head(public_photo, studio_regions):
    min_score = pose_settings().headwear_min_score
    rgb, regions = studio_regions
    assert headwear_score(crop(rgb, regions["headwear"])) < min_score  # bare head
    cap = public_photo("person_cropped_06.jpg")
    h, w = cap.shape[:2]
    head = garment_regions(estimate_people(cap)[0], w, h, body_settings().visible)["headwear"]
    assert headwear_score(crop(cap, head)) >= min_score

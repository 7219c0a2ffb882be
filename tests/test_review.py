"""Which items a catalog team is asked to check, and the reasons it is told."""

from __future__ import annotations

import numpy as np
import pytest

from shared.domain.records import ColorResult, ItemFiles, ItemState, PaletteEntry
from shared.domain.review import reviewed_item


def _colour(*shares: float) -> ColorResult:
    palette = [PaletteEntry(hex="#c80000", rgb=(200, 0, 0), share=s) for s in shares]
    return ColorResult(hex="#c80000", rgb=(200, 0, 0), name="red", css_name="firebrick", palette=palette)


def _item(**fields) -> ItemState:
    base = dict(type="product", box=(0, 0, 10, 10), category="food/drinks", category_score=0.8, color=_colour(0.9))
    return ItemState(**{**base, **fields}, files=ItemFiles(image="x.jpg"))


def test_an_item_the_product_is_sure_of_is_trusted():
    item = reviewed_item(_item())
    assert not item.needs_review and item.review_reasons == []


def test_each_unsure_part_is_a_reason():
    assert reviewed_item(_item(category="background-other", category_score=0.9)).review_reasons == [
        "category: not one the catalog has"
    ]
    assert reviewed_item(_item(category_score=0.12)).review_reasons == ["category: food/drinks at only 0.12"]
    many = reviewed_item(_item(color=_colour(*[0.2] * 5)))
    assert many.needs_review and many.review_reasons == ["colour: the dominant colour covers only 20% of the item"]
    unseen = reviewed_item(_item(color_from_wider_area=True))
    assert unseen.review_reasons == [
        "colour: too few of the item's own pixels were seen; it is measured on a wider area"
    ]
    cropped = _item(type="garment", garment="top", category="clothing/tops", warnings=["soles not seen"])
    assert reviewed_item(cropped).review_reasons == ["crop: the style guide's rules were met only in part"]


def test_a_colour_on_the_border_of_two_families_is_checked():
    # Whether a dark denim blue is "navy" or "blue" is a coin toss; the hex is not in doubt.
    palette = [PaletteEntry(hex="#41546f", rgb=(65, 84, 111), share=1.0)]
    denim = ColorResult(hex="#41546f", rgb=(65, 84, 111), name="navy", css_name="darkslategray", palette=palette)
    assert not reviewed_item(_item(color=denim)).needs_review
    flagged = reviewed_item(_item(color=denim.model_copy(update={"near_names": ["blue"]})))
    assert flagged.needs_review and flagged.review_reasons == ["colour: navy is on the border of blue"]


def test_a_product_is_checked_below_a_surer_score_than_a_garment():
    # A product's score is calibrated (right 70% of the time at 0.7: checked); a garment's
    # is its kind's probability among a few kinds (0.7 is a clear lead: trusted).
    assert reviewed_item(_item(category_score=0.7)).review_reasons == ["category: food/drinks at only 0.70"]
    garment = _item(type="garment", garment="top", category="clothing/tops", category_score=0.7)
    assert not reviewed_item(garment).needs_review
    assert reviewed_item(
        _item(type="garment", garment="top", category="clothing/tops", category_score=0.2)
    ).needs_review


def test_a_real_photo_the_classifier_cannot_name_is_flagged():
    from catalog.runner import analyse
    from shared.domain.records import Options

    # Grey noise: nothing salient, nothing the classifier or a pack's text can name.
    noise = np.random.default_rng(0).integers(100, 156, (320, 320, 3), dtype=np.uint8)
    (item,) = [i.item for i in analyse(noise, Options()).items]
    assert item.category == "background-other" and item.needs_review
    assert "category: not one the catalog has" in item.review_reasons


def test_a_garment_the_matte_misses_is_flagged_for_its_colour_and_the_others_are_not():
    """A man in navy in a crowd of nineteen: the matte misses him, so his top's colour is
    measured on his whole crop (it comes out white, the people around him) and is flagged;
    the garments whose own pixels were seen are not flagged for it."""
    from conftest import PUBLIC

    photo = PUBLIC.parent / "dev" / "group_19.jpg"
    if not photo.exists():
        pytest.skip("dev photos not found")
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    items = [r.item for r in analyse(read_image(photo), Options()).items]
    reason = "colour: too few of the item's own pixels were seen; it is measured on a wider area"
    (top,) = [i for i in items if i.garment == "top" and i.person == 0]
    assert top.needs_review and reason in top.review_reasons
    assert any(i.garment and reason not in i.review_reasons for i in items)


def test_a_shoe_crop_the_classifier_sees_no_shoe_in_is_a_guess_sent_to_review():
    """A sliver of belief in one shoe kind (the classifier sees no shoe: bare feet, feet too
    small to tell) is a guess among the four kinds, not that kind's whole share; a crop
    with real belief in shoes keeps its kind's share."""
    from services.pose.garments import GARMENT_CATEGORIES
    from services.pose.settings import pose_settings
    from shared.domain.classifier import best_within
    from shared.domain.taxonomy import imagenet_categories

    shoes, min_score = GARMENT_CATEGORIES["shoes"], pose_settings().garment_min_score
    probs = np.full(1000, 0.97 / 999)
    probs[imagenet_categories().index("running shoe")] = 0.03
    guess = best_within(probs, shoes, min_score)
    assert guess.score == 0.25
    garment = _item(type="garment", garment="shoes", category=guess.category, category_score=guess.score)
    assert reviewed_item(garment).review_reasons == [f"category: {guess.category} at only 0.25"]
    probs[imagenet_categories().index("running shoe")] = 0.3
    assert best_within(probs, shoes, min_score).category == "shoes/sneakers"
    assert best_within(probs, shoes, min_score).score > 0.9


@pytest.mark.parametrize("name", ["side_view_01.jpg", "group_21.jpg", "group_22.jpg"])
def test_the_shoes_of_barefoot_people_are_sent_to_review(name):
    """Barefoot on a beach, and dancers barefoot on concrete: the feet are cropped as shoes
    (the keypoints cannot tell), but the classifier sees no shoe there, so the crop is
    flagged for a catalog team to drop."""
    from conftest import PUBLIC

    photo = PUBLIC.parent / "dev" / name
    if not photo.exists():
        pytest.skip("dev photos not found")
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    items = [r.item for r in analyse(read_image(photo), Options()).items]
    (shoes,) = [i for i in items if i.garment == "shoes" and i.person == 0]
    assert shoes.needs_review and shoes.category_score == 0.25

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
    many = reviewed_item(_item(color=_colour(*[0.2] * 5).model_copy(update={"near_names": ["orange"]})))
    assert many.needs_review and many.review_reasons == [
        f"colour: red at only {many.color.score:.2f} (on the border of orange; its dominant colour covers 20% of"
        " the item)"
    ]
    unseen = reviewed_item(_item(color=_colour(0.2).model_copy(update={"from_wider_area": True, "in_group": True})))
    assert unseen.review_reasons == [
        f"colour: red at only {unseen.color.score:.2f} (too few of the item's own pixels were seen; measured on a"
        " wider area; measured on one of several people, who may hide part of it; its dominant colour covers 20%"
        " of the item)"
    ]
    cropped = _item(type="garment", garment="top", category="clothing/tops", warnings=["soles not seen"])
    assert reviewed_item(cropped).review_reasons == ["crop: the style guide's rules were met only in part"]


def test_a_colour_is_less_sure_the_less_of_the_item_it_covers_on_a_border_or_measured_around_the_item():
    # Whether a dark denim blue is "navy" or "blue" is a coin toss; the hex is not in doubt.
    palette = [PaletteEntry(hex="#41546f", rgb=(65, 84, 111), share=0.9)]
    denim = ColorResult(hex="#41546f", rgb=(65, 84, 111), name="navy", css_name="darkslategray", palette=palette)
    clear = reviewed_item(_item(color=denim))
    assert not clear.needs_review and clear.color.score > 0.7
    on_border = reviewed_item(_item(color=denim.model_copy(update={"near_names": ["blue"]}))).color
    wider = reviewed_item(_item(color=denim.model_copy(update={"from_wider_area": True}))).color
    spread = reviewed_item(_item(color=_colour(0.3, 0.3, 0.2, 0.2))).color
    assert max(on_border.score, wider.score, spread.score) < clear.color.score


def test_a_worn_colour_measured_among_people_or_in_a_skin_tone_is_less_sure_and_says_why(monkeypatch):
    # A tan measured on a garment may be the wearer's skin; a colour measured on one of a
    # group may be a neighbour's.
    from shared.domain.review import review_settings

    palette = [PaletteEntry(hex="#9a6243", rgb=(154, 98, 67), share=0.9)]
    tan = ColorResult(hex="#9a6243", rgb=(154, 98, 67), name="brown", css_name="sienna", palette=palette)
    top = dict(type="garment", garment="top", category="clothing/tops", category_score=0.9)
    alone = reviewed_item(_item(**top, color=tan)).color
    monkeypatch.setenv("CATALOG_REVIEW_COLOUR_MIN_SCORE", str(alone.score))  # flag below the plain tan's score
    review_settings.cache_clear()
    try:
        assert not reviewed_item(_item(**top, color=tan)).needs_review
        skin = reviewed_item(_item(**top, color=tan.model_copy(update={"skin_toned": True})))
        group = reviewed_item(_item(**top, color=tan.model_copy(update={"in_group": True})))
    finally:
        review_settings.cache_clear()
    assert skin.review_reasons == [
        f"colour: brown at only {skin.color.score:.2f} (a skin tone: the wearer's skin may have been measured;"
        " its dominant colour covers 90% of the item)"
    ]
    assert group.review_reasons == [
        f"colour: brown at only {group.color.score:.2f} (measured on one of several people, who may hide part of"
        " it; its dominant colour covers 90% of the item)"
    ]


def test_the_colour_flag_follows_the_fitted_threshold_unless_another_is_set(monkeypatch):
    from shared.domain.confidence import confidence
    from shared.domain.review import review_settings

    item = reviewed_item(_item(color=_colour(0.5)))
    assert item.needs_review == (item.color.score < confidence().colour.flag_below)
    monkeypatch.setenv("CATALOG_REVIEW_COLOUR_MIN_SCORE", "0.99")
    review_settings.cache_clear()
    try:
        assert reviewed_item(_item(color=_colour(0.5))).review_reasons[0].startswith("colour: red at only")
    finally:
        review_settings.cache_clear()


def test_a_product_is_checked_below_a_surer_score_than_a_garment():
    # A product's score is calibrated (right 45% of the time at 0.45: checked); a garment's
    # is its kind's probability among a few kinds (0.45 is a lead: trusted).
    assert reviewed_item(_item(category_score=0.45)).review_reasons == ["category: food/drinks at only 0.45"]
    garment = _item(type="garment", garment="top", category="clothing/tops", category_score=0.45)
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
    (top,) = [i for i in items if i.garment == "top" and i.person == 0]
    assert top.color.from_wider_area and top.needs_review
    assert any(r.startswith("colour:") and "measured on a wider area" in r for r in top.review_reasons)
    seen = [i for i in items if i.garment and not i.color.from_wider_area]
    assert seen and not any("measured on a wider area" in r for i in seen for r in i.review_reasons)


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


def test_a_bikini_from_behind_measured_on_the_skin_is_flagged_for_a_skin_tone():
    """A woman in a black bikini seen from behind: no face or hand shows her skin tone, so
    the top's region is measured on her back (brown, labelled black); a skin tone on a worn
    garment is flagged, and says so."""
    from conftest import PUBLIC

    photo = PUBLIC.parent / "dev" / "back_view_03.jpg"
    if not photo.exists():
        pytest.skip("dev photos not found")
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    items = [r.item for r in analyse(read_image(photo), Options()).items]
    (top,) = [i for i in items if i.garment == "top"]
    assert top.color.skin_toned and not top.color.in_group
    assert any(r.startswith("colour:") and "a skin tone" in r for r in top.review_reasons)

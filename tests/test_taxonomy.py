"""The ImageNet -> catalog category table and the helpers that read it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PUBLIC
from torchvision.models import ResNet50_Weights

from shared.domain import taxonomy
from shared.domain.taxonomy import (
    BACKGROUND,
    CATEGORIES,
    HEADWEAR_IMAGENET,
    category_scores,
    imagenet_categories,
    imagenet_to_category,
)

DEV = PUBLIC.parent / "dev"

# Catalog categories that no ImageNet class maps to, with the reason.
UNMAPPED = {
    "model": "people photos get 'model' from the person detector, not from ImageNet",
}


def idx(name: str) -> int:
    return imagenet_categories().index(name)


def category_of(name: str) -> str:
    return imagenet_to_category()[idx(name)]


def test_category_ids():
    assert CATEGORIES == (
        "model",
        "shoes/sneakers",
        "shoes/boots",
        "shoes/sandals",
        "shoes/formal",
        "clothing/tops",
        "clothing/outerwear",
        "clothing/bottoms",
        "clothing/dresses",
        "clothing/swimwear-underwear",
        "food/fruit-vegetables",
        "food/bakery",
        "food/dishes",
        "food/desserts",
        "food/drinks",
        "cosmetics/lipstick",
        "cosmetics/skincare",
        "cosmetics/perfume",
        "cosmetics/makeup",
        "cosmetics/haircare",
        "kitchen-appliances",
        "accessories/bags",
        "accessories/watches",
        "accessories/eyewear",
        "accessories/jewellery",
        "accessories/hats",
        "accessories/ties",
        "accessories/other",
        "background-other",
    )
    assert BACKGROUND in CATEGORIES


def test_csv_matches_torchvision_class_list():
    expected = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(imagenet_categories()) == 1000
    assert list(imagenet_categories()) == list(expected)
    assert len(imagenet_to_category()) == 1000


def test_every_category_valid():
    assert set(imagenet_to_category()) <= set(CATEGORIES)


def test_every_catalog_category_has_an_imagenet_class():
    used = set(imagenet_to_category())
    missing = {c for c in CATEGORIES if c not in used}
    assert missing == set(UNMAPPED)


@pytest.mark.parametrize(
    "name, category",
    [
        ("espresso", "food/drinks"),
        ("running shoe", "shoes/sneakers"),
        ("cowboy boot", "shoes/boots"),
        ("Loafer", "shoes/formal"),
        ("jean", "clothing/bottoms"),
        ("gown", "clothing/dresses"),
        ("trench coat", "clothing/outerwear"),
        ("jersey", "clothing/tops"),
        ("bikini", "clothing/swimwear-underwear"),
        ("pajama", "clothing/bottoms"),
        ("purse", "accessories/bags"),
        ("sunglasses", "accessories/eyewear"),
        ("cowboy hat", "accessories/hats"),
        ("Windsor tie", "accessories/ties"),
        ("digital watch", "accessories/watches"),
        ("necklace", "accessories/jewellery"),
        ("umbrella", "accessories/other"),
        ("perfume", "cosmetics/perfume"),
        ("lipstick", "cosmetics/lipstick"),
        ("lotion", "cosmetics/skincare"),
        ("face powder", "cosmetics/makeup"),
        ("hair spray", "cosmetics/haircare"),
        ("Crock Pot", "kitchen-appliances"),
        ("banana", "food/fruit-vegetables"),
        ("bagel", "food/bakery"),
        ("pizza", "food/dishes"),
        ("ice cream", "food/desserts"),
        ("tabby", BACKGROUND),
        ("sports car", BACKGROUND),
        ("groom", BACKGROUND),
        ("analog clock", BACKGROUND),
        ("bulletproof vest", BACKGROUND),
    ],
)
def test_spot_checks(name, category):
    assert category_of(name) == category


def test_category_scores_sums_mapped_classes():
    probs = np.zeros(1000)
    probs[idx("running shoe")] = 0.3
    probs[idx("Loafer")] = 0.1
    probs[idx("sandal")] = 0.25
    probs[idx("clog")] = 0.15
    probs[idx("tabby")] = 0.2
    scores = category_scores(probs)
    assert [c for c, _ in scores] == ["shoes/sandals", "shoes/sneakers", BACKGROUND, "shoes/formal"]
    assert dict(scores) == pytest.approx(
        {"shoes/sandals": 0.4, "shoes/sneakers": 0.3, BACKGROUND: 0.2, "shoes/formal": 0.1}
    )
    assert sum(s for _, s in scores) == pytest.approx(1.0)


def test_category_scores_rejects_wrong_length():
    with pytest.raises(ValueError):
        category_scores(np.ones(10) / 10)


def test_headwear():
    assert idx("cowboy hat") in HEADWEAR_IMAGENET
    assert idx("crash helmet") in HEADWEAR_IMAGENET
    assert idx("jersey") not in HEADWEAR_IMAGENET
    assert HEADWEAR_IMAGENET == {i for i, c in enumerate(imagenet_to_category()) if c == "accessories/hats"}


def test_unknown_category_is_reported_with_its_row(monkeypatch):
    rows = list(taxonomy._rows())
    rows[5] = (rows[5][0], "shoes/slippers")
    monkeypatch.setattr(taxonomy, "_rows", lambda: tuple(rows))
    # Bypass the cache so the patched rows are read.
    with pytest.raises(ValueError, match=r"row 5 .*shoes/slippers"):
        taxonomy.imagenet_to_category.__wrapped__()


def test_a_dress_laid_flat_on_white_is_a_dress(public_photo):
    """A sleeveless dress on a white sweep: ImageNet sees an apron (its outline) beside
    Christmas stockings and kimonos; the apron is a garment, folded into dresses, so the
    product is not filed as background."""
    from catalog.runner import analyse
    from shared.domain.records import Options

    result = analyse(public_photo("clothing_white_bg_12.jpg"), Options())
    assert result.kind == "product"
    assert result.items[0].item.category == "clothing/dresses", result.items[0].item.top3


@pytest.mark.parametrize("name", ["trousers_white_bg_01.jpg", "trousers_white_bg_02.jpg"])
def test_trousers_laid_on_white_are_bottoms(name):
    """Trousers on a white sweep: the classifier sees jeans beside pyjamas and swimming
    trunks. Its pyjamas are loose trousers (folded into bottoms), so the trousers are not
    filed as swimwear."""
    from catalog.runner import analyse
    from shared.domain.records import Options
    from shared.infra.imageio import read_image

    if not (DEV / name).exists():
        pytest.skip(f"dev photos not found at {DEV}")
    result = analyse(read_image(DEV / name), Options())
    assert result.kind == "product"
    assert result.items[0].item.category == "clothing/bottoms", result.items[0].item.top3

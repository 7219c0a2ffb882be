"""Which items a catalog team should check, and why: the product is unsure of a category,
a colour or a crop. The rest can be trusted as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.taxonomy import BACKGROUND

if TYPE_CHECKING:
    from shared.schemas import ItemState

# A product's category_score is calibrated: the share of products filed right at that
# score. Below this, more than one in five is filed wrong (bench/category_calibration.py).
PRODUCT_CATEGORY_MIN_SCORE = 0.8
# A top's or a bottom's is the fitted probability of its kind, a shoe's its kind's share among
# the shoe kinds (0.25, a guess among the four, where the classifier sees no shoe: bare
# feet, feet too small to tell): below this the product leans to no kind. On the labelled
# tops and bottoms (bench/garment_kinds.py) a higher threshold sends more right kinds to
# review than wrong ones (at 0.5: 12 flagged, 3 of them wrong).
GARMENT_CATEGORY_MIN_SCORE = 0.3
# An item whose dominant colour (the palette's first cluster, the largest shade of the
# family covering most of it) covers less than this share of its pixels has no one colour
# a shopper would name, or its colour is spread over many shades (texture, shading).
DOMINANT_MIN_SHARE = 0.3
# A colour on the border of two families (ColorResult.near_names) is checked too: of the
# 122 labelled garment and product colours of the public and dev photos, 30 are, and 19 of
# those are named otherwise by the labels (26 of the other 92 are).


def review_reasons(item: ItemState) -> list[str]:
    reasons = []
    if item.type == "product" and item.category == BACKGROUND:
        reasons.append("category: not one the catalog has")
    elif item.category and (item.category_score or 0.0) < _category_min_score(item):
        reasons.append(f"category: {item.category} at only {item.category_score or 0.0:.2f}")
    if item.color and item.color_from_wider_area:
        reasons.append("colour: too few of the item's own pixels were seen; it is measured on a wider area")
    elif item.color and item.color.palette and item.color.palette[0].share < DOMINANT_MIN_SHARE:
        reasons.append(f"colour: the dominant colour covers only {item.color.palette[0].share:.0%} of the item")
    if item.color and item.color.near_names:
        reasons.append(f"colour: {item.color.name} is on the border of {' and '.join(item.color.near_names)}")
    if item.warnings:
        reasons.append("crop: the style guide's rules were met only in part")
    return reasons


def _category_min_score(item: ItemState) -> float:
    return PRODUCT_CATEGORY_MIN_SCORE if item.type == "product" else GARMENT_CATEGORY_MIN_SCORE

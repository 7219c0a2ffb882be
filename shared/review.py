"""Which items a catalog team should check, and why: the product is unsure of a category,
a colour or a crop. The rest can be trusted as they are."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.taxonomy import BACKGROUND

if TYPE_CHECKING:
    from shared.schemas import ItemState

# A category holding less than this probability among its candidates is a guess.
CATEGORY_MIN_SCORE = 0.3
# An item whose largest colour cluster covers less than this share of its pixels has no
# one colour a shopper would name.
DOMINANT_MIN_SHARE = 0.3


def review_reasons(item: ItemState) -> list[str]:
    reasons = []
    if item.type == "product" and item.category == BACKGROUND:
        reasons.append("category: not one the catalog has")
    elif item.category and (item.category_score or 0.0) < CATEGORY_MIN_SCORE:
        reasons.append(f"category: {item.category} at only {item.category_score or 0.0:.2f}")
    if item.color and item.color.palette and item.color.palette[0].share < DOMINANT_MIN_SHARE:
        reasons.append(f"colour: the dominant colour covers only {item.color.palette[0].share:.0%} of the item")
    if item.warnings:
        reasons.append("crop: the style guide's rules were met only in part")
    return reasons

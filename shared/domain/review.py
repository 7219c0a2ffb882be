"""Which items a catalog team should check, and why: the product is unsure of a category,
a colour or a crop. The rest can be trusted as they are. An item as the stages left it
(ItemState) becomes the item a user reads (Item) here, with its review reasons."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.records import Item, ItemFiles, ItemState
from shared.domain.taxonomy import BACKGROUND


class ReviewSettings(BaseSettings):
    """When an item is sent to review (environment: CATALOG_REVIEW_<NAME>)."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_REVIEW_")

    # A product's category_score is calibrated: the share of products filed right at that
    # score. Below this, more than one in five is filed wrong (bench/category_calibration.py).
    product_category_min_score: float = Field(0.8, ge=0, le=1)
    # A top's or a bottom's is the fitted probability of its kind, a shoe's its kind's share
    # among the shoe kinds (0.25, a guess among the four, where the classifier sees no shoe:
    # bare feet, feet too small to tell): below this the product leans to no kind. On the
    # labelled tops and bottoms (bench/garment_kinds.py) a higher threshold sends more right
    # kinds to review than wrong ones (at 0.5: 12 flagged, 3 of them wrong).
    garment_category_min_score: float = Field(0.3, ge=0, le=1)
    # An item whose dominant colour (the palette's first cluster, the largest shade of the
    # family covering most of it) covers less than this share of its pixels has no one
    # colour a shopper would name, or its colour is spread over many shades (texture, shading).
    dominant_min_share: float = Field(0.3, ge=0, le=1)


@cache
def review_settings() -> ReviewSettings:
    return ReviewSettings()


def review_reasons(item: ItemState, s: ReviewSettings | None = None) -> list[str]:
    s = s or review_settings()
    reasons = []
    least = s.product_category_min_score if item.type == "product" else s.garment_category_min_score
    if item.type == "product" and item.category == BACKGROUND:
        reasons.append("category: not one the catalog has")
    elif item.category and (item.category_score or 0.0) < least:
        reasons.append(f"category: {item.category} at only {item.category_score or 0.0:.2f}")
    if item.color and item.color_from_wider_area:
        reasons.append("colour: too few of the item's own pixels were seen; it is measured on a wider area")
    elif item.color and item.color.palette and item.color.palette[0].share < s.dominant_min_share:
        reasons.append(f"colour: the dominant colour covers only {item.color.palette[0].share:.0%} of the item")
    # A colour on the border of two families (ColorResult.near_names): of the 122 labelled
    # garment and product colours of the public and dev photos, 30 are, and 19 of those are
    # named otherwise by the labels (26 of the other 92 are).
    if item.color and item.color.near_names:
        reasons.append(f"colour: {item.color.name} is on the border of {' and '.join(item.color.near_names)}")
    if item.warnings:
        reasons.append("crop: the style guide's rules were met only in part")
    return reasons


def reviewed_item(item: ItemState) -> Item:
    """The item a user reads, flagged for review where the product is unsure of it."""
    reasons = review_reasons(item)
    return Item(
        type=item.type,
        garment=item.garment,
        person=item.person,
        category=item.category,
        category_score=item.category_score,
        top3=item.top3,
        text=item.text,
        box=item.box,
        size=item.size,
        warnings=item.warnings,
        needs_review=bool(reasons),
        review_reasons=reasons,
        files=item.files or ItemFiles(image=""),
        color=item.color,
    )

"""Which items a catalog team should check, and why: the product is unsure of a category,
a colour or a crop. The rest can be trusted as they are. An item as the stages left it
(ItemState) becomes the item a user reads (Item) here, with its review reasons."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.confidence import colour_features, confidence
from shared.domain.records import ColorResult, Item, ItemFiles, ItemState
from shared.domain.taxonomy import BACKGROUND


class ReviewSettings(BaseSettings):
    """When an item is sent to review (environment: CATALOG_REVIEW_<NAME>)."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_REVIEW_")

    # A product's category_score and a colour's score are probabilities fitted on labelled
    # photos, each flagged below the threshold fitted with it for a stated precision
    # (shared.domain.confidence); set these to flag below another probability instead.
    product_category_min_score: float | None = Field(None, ge=0, le=1)
    colour_min_score: float | None = Field(None, ge=0, le=1)
    # A top's or a bottom's is the fitted probability of its kind, a shoe's its kind's share
    # among the shoe kinds (0.25, a guess among the four, where the classifier sees no shoe:
    # bare feet, feet too small to tell): below this the product leans to no kind. On the
    # labelled tops and bottoms (bench/garment_kinds.py) a higher threshold sends more right
    # kinds to review than wrong ones (at 0.5: 12 flagged, 3 of them wrong).
    garment_category_min_score: float = Field(0.3, ge=0, le=1)


@cache
def review_settings() -> ReviewSettings:
    return ReviewSettings()


def colour_scored(item: ItemState) -> ColorResult | None:
    """The item's colour with its score: the probability a person names it by its word."""
    if item.color is None:
        return None
    features = colour_features(item.color)
    return item.color.model_copy(update={"score": round(float(confidence().colour.probability(features)), 4)})


def review_reasons(item: ItemState, s: ReviewSettings | None = None) -> list[str]:
    """Why a team should check the item (none: it can be trusted). Its colour must be scored."""
    s = s or review_settings()
    fitted = confidence()
    reasons = []
    if item.type == "product":
        least = fitted.product.flag_below if s.product_category_min_score is None else s.product_category_min_score
    else:
        least = s.garment_category_min_score
    if item.type == "product" and item.category == BACKGROUND:
        reasons.append("category: not one the catalog has")
    elif item.category and (item.category_score or 0.0) < least:
        reasons.append(f"category: {item.category} at only {item.category_score or 0.0:.2f}")
    colour_least = fitted.colour.flag_below if s.colour_min_score is None else s.colour_min_score
    if item.color and item.color.score is not None and item.color.score < colour_least:
        reasons.append(f"colour: {item.color.name} at only {item.color.score:.2f} ({_colour_doubts(item.color)})")
    if item.warnings:
        reasons.append("crop: the style guide's rules were met only in part")
    return reasons


def _colour_doubts(color: ColorResult) -> str:
    """What about a colour makes it unsure, in words."""
    doubts = []
    if color.from_wider_area:
        doubts.append("too few of the item's own pixels were seen; measured on a wider area")
    if color.in_group:
        doubts.append("measured on one of several people, who may hide part of it")
    if color.skin_toned:
        doubts.append("a skin tone: the wearer's skin may have been measured")
    if color.near_names:
        doubts.append(f"on the border of {' and '.join(color.near_names)}")
    if color.palette:
        doubts.append(f"its dominant colour covers {color.palette[0].share:.0%} of the item")
    return "; ".join(doubts)


def reviewed_item(item: ItemState) -> Item:
    """The item a user reads, flagged for review where the product is unsure of it."""
    item = item.model_copy(update={"color": colour_scored(item)})
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

"""The state of one photo between two stages, and its manifest record once its steps ran."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared.domain.listing import Listing, ListingResult
from shared.domain.listing_checks import with_listing_reasons
from shared.domain.listing_evidence import filed_items
from shared.domain.records import ImageRecord, ItemState, Person, Skipped
from shared.domain.review import reviewed_item
from shared.domain.styles import StyleRef
from shared.engine.chain import FIRST_STAGE, Stage, next_stage


class PhotoState(BaseModel):
    """Everything known about one photo between two stages (small: no pixels). The stages
    exchange it and blob keys, never pixels (shared.engine.stage)."""

    source: str  # the file name or path the user gave
    slug: str  # the photo's folder in the catalog
    kind: Literal["person", "product"] | None = None
    width: int | None = None
    height: int | None = None
    scaled_from: tuple[int, int] | None = None
    people: list[Person] = Field(default_factory=list)
    items: list[ItemState] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)
    style: StyleRef | None = None
    preview: str | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
    done: list[Stage] = Field(default_factory=list)  # stages finished, in order
    listing: Listing | None = None  # what the shop says the photo shows, where it sent a listing
    listing_result: ListingResult | None = None  # the listing checked (shared.engine.listing_step)

    def next_stage(self, after: Stage | None = None) -> Stage | None:
        """The stage that follows `after` for this photo (detect first; None at the end)."""
        if after is None:
            return FIRST_STAGE
        try:
            return next_stage(self.kind, self.done, after)
        except ValueError as exc:
            raise ValueError(f"{self.source}: {exc}") from None


def photo_record(state: PhotoState, source: str | None = None) -> ImageRecord:
    """The manifest record of a photo whose steps all ran, its items flagged for review
    where the product is unsure of them (shared.domain.review) or they disagree with the
    photo's listing; a product the photo alone was unsure of filed as listed, where its
    listing decided (shared.domain.listing_evidence)."""
    return ImageRecord(
        source=state.source if source is None else source,
        status="ok",
        kind=state.kind,
        width=state.width,
        height=state.height,
        scaled_from=state.scaled_from,
        people=len(state.people),
        preview=state.preview,
        keypoints=[p.keypoints for p in state.people] if state.kind == "person" else None,
        items=with_listing_reasons(
            filed_items([reviewed_item(i) for i in state.items], state.listing_result), state.listing_result
        ),
        style=state.style,
        skipped=state.skipped,
        timings_ms=state.timings_ms,
        listing=state.listing_result,
    )

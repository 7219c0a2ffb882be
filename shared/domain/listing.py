"""A photo's listing (what a shop says it shows) and what the product makes of it: each
field checked against what the photo shows, and the photo's verdict."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Verdict = Literal["agree", "disagree", "unknown"]
CheckedField = Literal["category", "garment", "colour", "text"]
LISTING_FIELDS = ("title", "description", "category", "colour", "brand")


class Listing(BaseModel):
    """All optional; each bounded (a listing travels with its photo through the job store)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=2000)
    category: str | None = Field(None, max_length=100, description="a taxonomy id, or words: 'sneakers', 'Kleid'")
    colour: str | None = Field(None, max_length=100, description="words: 'navy', 'bordeaux', 'rouge'")
    brand: str | None = Field(None, max_length=100)


class ListingCheck(BaseModel):
    field: CheckedField
    listed: str  # what the listing says, as read ("red", "clothing/dresses")
    seen: str | None = None  # what the photo shows ("blue"; "top, bottom" worn)
    verdict: Verdict
    score: float | None = None  # how sure the product is of what it saw
    item: int | None = None  # the item compared, by its place in the photo's items
    # The category the item was filed under on the listing's word (shared.domain.listing_evidence);
    # `seen` and `score` stay the photo's own reading.
    filed: str | None = None


class ListingResult(BaseModel):
    listing: Listing
    checks: list[ListingCheck] = Field(default_factory=list)
    verdict: Verdict = "unknown"

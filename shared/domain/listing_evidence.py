"""The listing as evidence: where the photo alone is unsure of a product's category (the
item is flagged for its category: its score below the fitted threshold, or read as no
category the catalog has) and the listed category is among its top 3, the product is filed
under the listed category. The photo's own reading stays in the category check (`seen`,
`score`) and in the item's top 3; the review reason says the category came from the listing.

The listing step decides (`with_evidence`, on the checked listing) and the manifest record
applies it (`filed_items`), so the workers, `catalog run` and the bench share both."""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.listing import ListingResult
from shared.domain.listing_checks import names, unsure_of
from shared.domain.listing_words import read_listing
from shared.domain.records import CategoryScore, Item


def listed_in_top3(item: Item, categories: Sequence[str]) -> CategoryScore | None:
    """The best of the item's top 3 that the listing names, where the photo alone is unsure
    of the product's category; None where the photo's own reading stands."""
    if item.type != "product" or not unsure_of(item, "category"):
        return None
    return next((s for s in item.top3 if any(names(s.category, c) for c in categories)), None)


def with_evidence(result: ListingResult, items: Sequence[Item]) -> ListingResult:
    """The checked listing, its category check marked `filed` where the listing decides the
    product's category (items as checked: reviewed, before the listing's reasons)."""
    categories = read_listing(result.listing).categories
    checks = []
    for check in result.checks:
        if check.field == "category" and check.verdict != "agree" and check.item is not None:
            chosen = listed_in_top3(items[check.item], categories)
            check = check.model_copy(update={"filed": chosen.category if chosen else None})
        checks.append(check)
    return result.model_copy(update={"checks": checks})


def filed_items(items: list[Item], result: ListingResult | None) -> list[Item]:
    """The items, each product the listing decided filed under the listed category, with
    that category's score from its top 3 and the reason (in place of the photo's own
    category reason, which it repeats)."""
    filings = [c for c in (result.checks if result else []) if c.filed and c.item is not None]
    if not filings:
        return items
    items = [item.model_copy(deep=True) for item in items]
    for check in filings:
        item = items[check.item or 0]
        score = next(s.score for s in item.top3 if s.category == check.filed)
        own = f"{item.category} at {item.category_score or 0.0:.2f}"
        reasons = [r for r in item.review_reasons if not r.startswith("category:")]
        item.review_reasons = [f"category: filed under {check.filed} from its listing; the photo alone read {own}"]
        item.review_reasons += reasons
        item.category, item.category_score = check.filed, score
        item.needs_review = True
    return items

"""Does a photo show what its listing says? Each field the listing names is checked against
what the product saw: a product's category (with its top 3 and score), the garments a
person wears and their kinds, the colour of the item compared (with the families on its
border) and the text printed on a pack.

A check says `disagree` only where the product is sure of what it saw: an item flagged for
review on its category (shared.domain.review), a category the listing names among its top 3,
a garment's kind (a weak reading: a dress's top half reads as a top), a colour on the
border of the listed family, or a listed colour that is a shade of the item's palette give
`unknown` or `agree`, never a false alarm.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain.lexicon import normalise
from shared.domain.listing import Listing, ListingCheck, ListingResult, Verdict
from shared.domain.listing_words import ListedTerms, read_listing
from shared.domain.records import ColorResult, Garment, Item
from shared.domain.words import pack_lexicon

# Where a person wears what a listing names (a dress counts as top and bottom, as in the labels).
WORN_AS: dict[str, tuple[Garment, ...]] = {
    "clothing/tops": ("top",),
    "clothing/outerwear": ("top",),
    "clothing/dresses": ("top", "bottom"),
    "clothing/swimwear-underwear": ("top", "bottom"),
    "clothing/bottoms": ("bottom",),
    "shoes": ("shoes",),
    "accessories/hats": ("headwear",),
}
REASON = "listing"  # the prefix of the review reasons a disagreement adds


def check_listing(
    listing: Listing, kind: str | None, items: Sequence[Item], sought: Sequence[Garment]
) -> ListingResult:
    """The listing's checks against a photo's items (as a user reads them, with their review
    reasons); `sought` are the garments the job asked for."""
    terms = read_listing(listing)
    if kind == "person":
        checks, compared = _person_checks(terms, items, sought)
    else:
        checks, compared = _product_checks(terms, items)
    if terms.colours and compared:
        checks.append(_colour_check(terms, items, compared))
    verdicts = {c.verdict for c in checks}
    verdict: Verdict = "disagree" if "disagree" in verdicts else "agree" if "agree" in verdicts else "unknown"
    return ListingResult(listing=listing, checks=checks, verdict=verdict)


def with_listing_reasons(items: list[Item], result: ListingResult | None) -> list[Item]:
    """The items, each disagreement a review reason on the item it was seen on (the photo's
    first item where no item shows what was listed)."""
    if result is None or not items:
        return items
    items = [item.model_copy(deep=True) for item in items]
    for check in result.checks:
        if check.verdict == "disagree":
            item = items[check.item if check.item is not None else 0]
            item.review_reasons.append(f"{REASON}: listed {check.listed}, seen {check.seen or 'none'}")
            item.needs_review = True
    return items


def unsure_of(item: Item, field: str) -> bool:
    """Whether the item is flagged for review on that field (a listing's own reasons aside)."""
    return any(reason.startswith(f"{field}:") for reason in item.review_reasons)


def names(seen: str | None, listed: str) -> bool:
    """Whether a seen category is the listed one, or in the listed group ("shoes")."""
    return seen is not None and (seen == listed or seen.startswith(listed + "/"))


def _worn_as(listed: str) -> tuple[Garment, ...]:
    return WORN_AS.get(listed) or WORN_AS.get(listed.split("/")[0], ())


def _product_checks(terms: ListedTerms, items: Sequence[Item]) -> tuple[list[ListingCheck], list[int]]:
    products = [i for i, item in enumerate(items) if item.type == "product"]
    if not products:
        return [], []
    checks = []
    named = [i for i in products if any(names(items[i].category, c) for c in terms.categories)]
    main = named[0] if named else products[0]
    if terms.categories:
        checks.append(_category_check(terms, items[main], main))
    if items[main].text and terms.words:
        checks.append(_text_check(terms, items[main], main))
    return checks, [main]


def _category_check(terms: ListedTerms, item: Item, index: int) -> ListingCheck:
    listed = ", ".join(terms.categories)
    if any(names(item.category, c) for c in terms.categories):
        verdict: Verdict = "agree"
    elif unsure_of(item, "category") or any(names(s.category, c) for s in item.top3 for c in terms.categories):
        verdict = "unknown"
    else:
        verdict = "disagree"
    return ListingCheck(
        field="category", listed=listed, seen=item.category, verdict=verdict, score=item.category_score, item=index
    )


def _text_check(terms: ListedTerms, item: Item, index: int) -> ListingCheck:
    """The title's (and brand's) words against the text read on the pack: one of them there
    agrees (read inside longer runs too: OCR runs words together); the text naming only
    other categories than the listing's disagrees; else the text says nothing either way."""
    text = normalise(" ".join(item.text))
    squeezed = text.replace(" ", "")
    found = [w for w in terms.words if w in squeezed]
    said = {m for e in pack_lexicon().find(text) for m in e.meanings}
    listed = " ".join(terms.words)
    if found:
        return ListingCheck(field="text", listed=listed, seen=" ".join(found), verdict="agree", item=index)
    wrong = said and terms.categories and not any(names(s, c) for s in said for c in terms.categories)
    return ListingCheck(
        field="text", listed=listed, seen=text[:80], verdict="disagree" if wrong else "unknown", item=index
    )


def _person_checks(
    terms: ListedTerms, items: Sequence[Item], sought: Sequence[Garment]
) -> tuple[list[ListingCheck], list[int]]:
    garments = [i for i, item in enumerate(items) if item.type == "garment"]
    worn = ", ".join(dict.fromkeys(str(items[i].garment) for i in garments)) or "no garment"
    checks, compared = [], []
    for listed in terms.categories:
        places = _worn_as(listed)
        if not places:
            continue  # a bag, a watch: not among the garments read on a person
        there = [i for i in garments if items[i].garment in places]
        if not there:
            looked = any(place in sought for place in places)
            checks.append(
                ListingCheck(field="garment", listed=listed, seen=worn, verdict="disagree" if looked else "unknown")
            )
            continue
        right = [i for i in there if names(items[i].category, listed)]
        shown = (right or there)[0]
        checks.append(
            ListingCheck(
                field="garment",
                listed=listed,
                seen=items[shown].category,
                verdict="agree" if right else "unknown",
                score=items[shown].category_score,
                item=shown,
            )
        )
        compared += right or there
    if not terms.categories:
        compared = garments  # no kind listed: the colour of any garment worn
    return checks, list(dict.fromkeys(compared))


def _colour_check(terms: ListedTerms, items: Sequence[Item], compared: list[int]) -> ListingCheck:
    """The listed families against each compared item's colour: its family or one on its
    border agrees. It disagrees only where the listed family is nowhere in any compared
    item's palette (no shade of it, nor one on its border) and each colour was measured on
    the item's own pixels: a shopper's "red" for a blue shirt, not for a shirt whose red
    print or shadowed red the dominant colour missed."""
    listed = "/".join(terms.colours)
    coloured = [i for i in compared if items[i].color is not None]
    if not coloured:
        return ListingCheck(field="colour", listed=listed, verdict="unknown")
    for i in coloured:
        colour = items[i].color
        assert colour is not None
        if colour.name in terms.colours or set(colour.near_names) & set(terms.colours):
            return ListingCheck(
                field="colour", listed=listed, seen=colour.name, verdict="agree", score=colour.score, item=i
            )
    first = items[coloured[0]].color
    assert first is not None
    absent = all(_nowhere_in(items[i].color, terms.colours) for i in coloured)
    return ListingCheck(
        field="colour",
        listed=listed,
        seen=first.name,
        verdict="disagree" if absent else "unknown",
        score=first.score,
        item=coloured[0],
    )


def _nowhere_in(colour: ColorResult | None, families: Sequence[str]) -> bool:
    """Whether none of the families is a shade of the colour's palette or on its border,
    the colour measured on the item's own pixels."""
    if colour is None or colour.from_wider_area:
        return False
    in_palette = {name for entry in colour.palette for name in (entry.name, *entry.near_names)}
    return not in_palette & set(families)

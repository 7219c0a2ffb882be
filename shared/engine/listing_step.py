"""The listing step (the color stage's, once every item has its colour): the photo's listing,
where it came with one, checked against what the stages saw (shared.domain.listing_checks),
and taken as evidence of a product's category where the photo alone is unsure of it
(shared.domain.listing_evidence).
It runs where the workers and the in-process runner both run it, before the manifest record
is made from the state."""

from __future__ import annotations

from shared.domain.listing_checks import check_listing
from shared.domain.listing_evidence import with_evidence
from shared.domain.review import reviewed_item
from shared.engine.stage import StepContext


def run(ctx: StepContext) -> None:
    state = ctx.state
    if state.listing is None:
        state.listing_result = None
        return
    items = [reviewed_item(item) for item in state.items]
    checked = check_listing(state.listing, state.kind, items, ctx.options.garments)
    state.listing_result = with_evidence(checked, items)

"""The listing as evidence, on a real photo: a handbag the photo alone reads as no category
of the catalog (bags second in its top 3) is filed under bags when its listing says so,
the photo's own reading kept beside it; a listing naming a category outside the top 3 files
nothing."""

from __future__ import annotations

import pytest
from conftest import PUBLIC
from typer.testing import CliRunner

from catalog.cli import app
from catalog.runner import process_file
from shared.domain.listing import Listing
from shared.domain.listing_checks import check_listing
from shared.domain.listing_evidence import filed_items, with_evidence
from shared.domain.records import ImageRecord, Options
from shared.domain.taxonomy import BACKGROUND

BAG = PUBLIC.parent / "dev" / "bag_white_bg_04.jpg"  # a handbag on white, read as no catalog category


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> tuple[ImageRecord, ImageRecord]:
    """The bag through the pipeline alone, and with its listing."""
    if not BAG.is_file():
        pytest.skip(f"shared test photo {BAG} not found")
    out = tmp_path_factory.mktemp("bag")
    alone = process_file(BAG, out, "alone", Options())
    listed = process_file(BAG, out, "listed", Options(), Listing(title="Sac à main en cuir"))
    return alone, listed


def test_an_unsure_product_is_filed_under_its_listed_category_in_its_top3(bag):
    alone, listed = bag
    own = alone.items[0]
    assert own.category == BACKGROUND and own.review_reasons[0].startswith("category:")
    assert "accessories/bags" in [s.category for s in own.top3]

    item = listed.items[0]
    assert item.category == "accessories/bags"
    assert item.category_score == next(s.score for s in own.top3 if s.category == "accessories/bags")
    assert item.top3 == own.top3, "the photo's own top 3 stays"
    assert item.needs_review
    assert item.review_reasons[0] == (
        f"category: filed under accessories/bags from its listing; the photo alone read {BACKGROUND} "
        f"at {own.category_score:.2f}"
    )
    assert listed.listing is not None
    check = next(c for c in listed.listing.checks if c.field == "category")
    assert (check.filed, check.seen, check.score) == ("accessories/bags", own.category, own.category_score)


def test_a_listed_category_outside_the_top3_files_nothing(bag):
    alone, _ = bag
    result = with_evidence(check_listing(Listing(title="Grille-pain"), alone.kind, alone.items, []), alone.items)
    assert [c.filed for c in result.checks] == [None]
    assert filed_items(alone.items, result) == alone.items


def test_catalog_run_counts_the_products_filed_from_their_listing(bag, tmp_path):
    listings = tmp_path / "listings.csv"
    listings.write_text(f"file,title\n{BAG.name},Handbag\n")
    result = CliRunner().invoke(app, ["run", str(BAG), "--listings", str(listings), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "listings: 0 agree, 0 disagree, 1 unknown, 1 filed under the listed category" in result.output

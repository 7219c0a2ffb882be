"""Does a photo match its listing: listings read in each language, checked against what the
real pipeline sees on real photos (a red top, a pack, a footballer), refused with the row
and field when bad, from the CLI and from the gateway."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx
import pytest
from cluster import running_gateway
from conftest import FOOTBALLER, PERSON, PUBLIC, encode
from typer.testing import CliRunner

from catalog.cli import app
from catalog.runner import process_file
from shared.domain.listing import Listing
from shared.domain.listing_checks import check_listing, unsure_of
from shared.domain.listing_evidence import with_evidence
from shared.domain.listing_files import ListingError, listings_from_csv, listings_from_json
from shared.domain.listing_words import read_listing
from shared.domain.records import GARMENTS, ImageRecord, Options
from shared.engine.jobs.store import JobStore
from shared.infra.imageio import read_image
from shared.infra.storage import BlobStore

DEV = PUBLIC.parent / "dev"


# --- reading a listing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title, category",
    [
        ("Slim jeans", "clothing/bottoms"),
        ("Sommerkleid mit Blumen", "clothing/dresses"),
        ("Baskets en cuir", "shoes/sneakers"),
        ("Running sneakers", "shoes/sneakers"),
        ("Robe longue en lin", "clothing/dresses"),
        ("Юбка миди", "clothing/bottoms"),
        ("Zapatos de vestir", "shoes/formal"),
        ("Dress shoes", "shoes/formal"),  # not a dress: the longer entry is read first
        ("T-shirt à manches courtes", "clothing/tops"),  # not shorts
        ("Whole milk 1 L", "food/drinks"),  # a pack's words
        ("纯棉T恤", "clothing/tops"),
    ],
)
def test_a_title_names_its_category(title, category):
    assert read_listing(Listing(title=title)).categories == (category,)


@pytest.mark.parametrize(
    "colour, families",
    [
        ("burgundy", {"red", "purple", "brown"}),
        ("camel", {"brown", "beige"}),
        ("ecru", {"white", "beige"}),
        ("khaki", {"green", "brown", "beige"}),
        ("bordeaux", {"red"}),
        ("bleu marine", {"navy"}),
        ("Marine", {"navy"}),
        ("schwarzes", {"black"}),
        ("бордовый", {"red"}),
    ],
)
def test_colour_words_name_their_families(colour, families):
    assert set(read_listing(Listing(colour=colour)).colours) == families


def test_a_french_and_a_russian_listing_are_read():
    french = read_listing(Listing(title="Robe rouge en lin", brand="Maison"))
    assert french.categories == ("clothing/dresses",) and french.colours == ("red",)
    russian = read_listing(Listing(title="Джинсы прямые", colour="тёмно-синий"))
    assert russian.categories == ("clothing/bottoms",) and russian.colours == ("navy",)


def test_a_colour_word_that_names_what_is_sold_is_a_colour_beside_another_category():
    assert read_listing(Listing(title="Olive chinos")).colours == ("green",)
    assert read_listing(Listing(title="Olives vertes")).categories == ("food/fruit-vegetables",)


def test_the_category_field_takes_a_taxonomy_id_or_words():
    assert read_listing(Listing(category="shoes/boots", title="Kleid")).categories == ("shoes/boots",)
    assert read_listing(Listing(category="Stiefel")).categories == ("shoes/boots",)


# --- listings as sent -------------------------------------------------------------------------


def test_a_csv_row_with_a_bad_field_is_named():
    with pytest.raises(ListingError, match=r"row 3 \('b.jpg'\): title: String should have at most 300"):
        listings_from_csv("file,title,colour\na.jpg,Jeans,blue\nb.jpg," + "x" * 301 + ",red\n")
    with pytest.raises(ListingError, match="unknown column size"):
        listings_from_csv("file,title,size\na.jpg,Jeans,M\n")
    with pytest.raises(ListingError, match="row 2: the 'file' column is empty"):
        listings_from_csv("file,title\n,Jeans\n")


def test_json_listings_name_the_file_and_field():
    assert listings_from_json('{"a.jpg": {"title": "Jeans"}}') == {"a.jpg": Listing(title="Jeans")}
    with pytest.raises(ListingError, match=r"listing for 'a.jpg': colour: Input should be a valid string"):
        listings_from_json('{"a.jpg": {"colour": 3}}')
    with pytest.raises(ListingError, match=r"listing for 'a.jpg': price: Extra inputs are not permitted"):
        listings_from_json('{"a.jpg": {"price": "3"}}')


# --- checks on real photos --------------------------------------------------------------------


@pytest.fixture(scope="module")
def footballer(tmp_path_factory) -> ImageRecord:
    """The footballer in a red shirt and shorts, through the pipeline once, listed as green."""
    listing = Listing(title="Maillot de foot", colour="vert")
    return process_file(FOOTBALLER, tmp_path_factory.mktemp("red"), "red", Options(garments=["top", "bottom"]), listing)


def check(record: ImageRecord, sought=GARMENTS, **fields) -> dict[str, str]:
    result = check_listing(Listing(**fields), record.kind, record.items, sought)
    return {c.field: c.verdict for c in result.checks} | {"overall": result.verdict}


def test_a_red_top_listed_as_green_is_flagged_and_as_red_it_is_not(footballer):
    assert footballer.kind == "person" and footballer.items[0].garment == "top"
    assert check(footballer, title="T-shirt", colour="green") == {
        "garment": "agree",
        "colour": "disagree",
        "overall": "disagree",
    }
    # The kit is red with blue panels (a third of the shirt): "blue" is not a clear mismatch.
    assert "blue" in {entry.name for entry in footballer.items[0].color.palette}
    assert check(footballer, title="T-shirt", colour="blue")["colour"] == "unknown"
    assert check(footballer, title="T-shirt", colour="red") == {
        "garment": "agree",
        "colour": "agree",
        "overall": "agree",
    }
    assert check(footballer, title="Débardeur rouge")["colour"] == "agree"


def test_a_disagreement_is_a_review_reason_in_the_manifest(footballer):
    assert footballer.listing is not None and footballer.listing.verdict == "disagree"
    colour = next(c for c in footballer.listing.checks if c.field == "colour")
    flagged = footballer.items[colour.item or 0]
    assert f"listing: listed green, seen {colour.seen}" in flagged.review_reasons and flagged.needs_review


def test_a_garment_not_worn_disagrees_and_one_not_asked_for_is_unknown(footballer):
    assert "headwear" not in {i.garment for i in footballer.items}
    assert check(footballer, title="Casquette")["garment"] == "disagree"
    assert check(footballer, ["top", "bottom"], title="Sneakers")["garment"] == "unknown"


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> ImageRecord:
    path = DEV / "drink_packaged_02.jpg"  # a carton of milk, "PURE MILK" printed on it
    if not path.is_file():
        pytest.skip(f"shared test photo {path} not found")
    return process_file(path, tmp_path_factory.mktemp("pack"), "pack", Options(), Listing(title="Pure milk"))


def test_a_pack_whose_title_names_what_is_printed_on_it_agrees(pack):
    assert pack.items[0].text, "with a listing, the pack's text is read"
    said = check(pack, title="Fresh milk 200 ml")
    assert said["text"] == "agree" and said["overall"] == "agree"
    assert check(pack, title="Shampoo")["overall"] == "disagree"


def test_a_sure_product_is_not_filed_from_its_listing_even_with_the_listed_category_in_its_top3(pack):
    product = pack.items[0]
    assert not unsure_of(product, "category") and "cosmetics/skincare" in [s.category for s in product.top3]
    result = with_evidence(check_listing(Listing(title="Crème visage"), pack.kind, pack.items, GARMENTS), pack.items)
    assert [(c.field, c.verdict, c.filed) for c in result.checks if c.field == "category"] == [
        ("category", "unknown", None)
    ]


# --- the CLI and the gateway ------------------------------------------------------------------


def test_the_cli_runs_photos_with_a_csv_of_listings(tmp_path):
    photos = tmp_path / "in"
    photos.mkdir()
    (photos / "footballer.jpg").write_bytes(FOOTBALLER.read_bytes())
    csv = tmp_path / "listings.csv"
    csv.write_text("file,title,colour\nfootballer.jpg,Maillot de foot,vert\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["run", str(photos), "--out", str(out), "--garments", "top", "--listings", str(csv)]
    )
    assert result.exit_code == 0, result.output
    assert "listings: 0 agree, 1 disagree, 0 unknown" in result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"][0]["listing"]["listing"]["title"] == "Maillot de foot"


def test_the_cli_refuses_a_bad_row_and_a_listing_for_no_photo(tmp_path):
    (tmp_path / "footballer.jpg").write_bytes(FOOTBALLER.read_bytes())
    bad = tmp_path / "bad.csv"
    bad.write_text("file,title,colour\nfootballer.jpg,Top," + "x" * 101 + "\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "footballer.jpg"), "--listings", str(bad)])
    assert result.exit_code == 1 and "row 2" in result.output and "colour" in result.output
    other = tmp_path / "other.json"
    other.write_text('{"elsewhere.jpg": {"title": "Top"}}')
    result = CliRunner().invoke(app, ["run", str(tmp_path / "footballer.jpg"), "--listings", str(other)])
    assert result.exit_code == 1 and "elsewhere.jpg" in result.output


@pytest.fixture(scope="module")
def env(redis_url, tmp_path_factory) -> dict[str, str]:
    """A gateway on a Redis database no worker listens on: the photos stay queued."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    base = tmp_path_factory.mktemp("listings-gateway")
    return {
        **env,
        "CATALOG_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/2",
        "CATALOG_STORAGE_URL": (base / "blobs").as_uri(),
        "CATALOG_SWEEP_INTERVAL_S": "0",
    }


@pytest.fixture(scope="module")
def gw(env, tmp_path_factory) -> Iterator[str]:
    with running_gateway(env, tmp_path_factory.mktemp("listings-logs")) as url:
        yield url


def post(url: str, listings: str) -> httpx.Response:
    photo = encode(read_image(FOOTBALLER), "JPEG")
    return httpx.post(f"{url}/v1/jobs", files=[("files", ("a.jpg", photo))], data={"listings": listings}, timeout=60)


@pytest.mark.parametrize(
    "listings, named",
    [
        ('{"a.jpg": {"colour": ["red"]}}', "listing for 'a.jpg': colour"),
        ('{"a.jpg": {"title": "Top", "price": 3}}', "price"),
        ('{"b.jpg": {"title": "Top"}}', "for files that were not sent: b.jpg"),
        ("[1, 2]", "a JSON object from file name to listing"),
        ("{not json", "not JSON"),
        ("name,title\na.jpg,Top\n", "listings CSV: no 'file' column (its columns: name, title)"),
        ("file,title,colour\na.jpg,Top," + "x" * 101 + "\n", "listings CSV row 2 ('a.jpg'): colour"),
        ("file,title\nb.jpg,Top\n", "for files that were not sent: b.jpg"),
    ],
)
def test_bad_listings_get_a_422_naming_the_field(gw, listings, named):
    response = post(gw, listings)
    assert response.status_code == 422 and named in response.json()["detail"]


@pytest.mark.parametrize(
    "listings",
    [
        json.dumps({"a.jpg": {"title": "Maillot", "colour": "vert"}}),
        "\ufefffile,title,colour\r\na.jpg,Maillot,vert\r\n",  # a CSV as a spreadsheet saves it (the web page sends it)
    ],
)
def test_a_listing_travels_with_its_photo(gw, env, listings):
    response = post(gw, listings)
    assert response.status_code == 202, response.text
    store = JobStore.from_url(env["CATALOG_REDIS_URL"], BlobStore(env["CATALOG_STORAGE_URL"]))
    image = store.get_image(response.json()["id"], "0")
    assert image is not None and image.state is not None
    assert image.state.listing == Listing(title="Maillot", colour="vert")


def test_a_listing_too_long_is_refused_before_it_is_read(gw):
    response = post(gw, json.dumps({"a.jpg": {"title": "x" * 301}}))
    assert response.status_code == 422 and "title" in response.json()["detail"]


def test_a_listing_sent_to_the_cluster_is_checked_by_the_workers(gateway, cluster_jobs, photos):
    """The listings form field through the gateway, the real stage workers and the job's
    manifest: the footballer listed as a green shirt is a mismatch, with its reason."""
    import httpx
    from cluster import wait_for_job

    key = gateway.api_keys[0]
    listings = {PERSON: {"title": "Camiseta", "colour": "verde"}}
    accepted = httpx.post(
        f"{gateway.url}/v1/jobs",
        files=[("files", (PERSON, photos[PERSON], "image/jpeg"))],
        data={"listings": json.dumps(listings), "garments": "top,bottom", "style": "none"},
        headers={"X-API-Key": key},
        timeout=60,
    )
    assert accepted.status_code == 202, accepted.text
    wait_for_job(cluster_jobs, accepted.json()["id"], cluster=gateway.cluster)
    manifest = httpx.get(
        f"{gateway.url}/v1/jobs/{accepted.json()['id']}/manifest", headers={"X-API-Key": key}, timeout=30
    ).json()
    (record,) = manifest["images"]
    assert record["status"] == "ok" and record["kind"] == "person", (record["status"], record["error"], record["kind"])
    listed = record["listing"]["listing"]
    assert (listed["title"], listed["colour"]) == ("Camiseta", "verde")
    checks = {c["field"]: c["verdict"] for c in record["listing"]["checks"]}
    items = [(i["type"], i["garment"]) for i in record["items"]]
    assert checks == {"garment": "agree", "colour": "disagree"}, (checks, items, record["people"], manifest["options"])
    assert record["listing"]["verdict"] == "disagree"
    top = next(i for i in record["items"] if i["garment"] == "top")
    assert top["needs_review"] and any(r.startswith("listing: listed green, seen red") for r in top["review_reasons"])

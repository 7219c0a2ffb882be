"""Does the product tell a photo's true listing from a wrong one? Listings written from the
labels, checked against what the pipeline sees.

    PYTHONPATH=. .venv/bin/python bench/listings.py [--seed N] [--records FILE] [--out FILE]

For each labelled person or product photo of the public and dev sets beside the checkout
(scenes and odd photos aside) a seeded generator writes:
- a true listing: a title in one of the languages of the listing words, naming the product's
  category (a person: one garment worn, by its labelled kind: bench/garment_kinds.json for
  tops and bottoms, any shoes, a hat), and the colour field: the label's colour word or one
  of its `also` words, in that language where it is a family word;
- corrupted copies, one per kind that applies: the colour moved to a clearly different
  family (none of the label's words nor their neighbours: red for blue, never navy), the
  category moved to another group of the taxonomy (products), a garment not worn (people).
The pipeline runs once per photo, in this process, with its true listing (so a pack's text
is read); each listing is then checked against the photo's manifest record
(shared.domain.listing_checks), which holds all that the checks read. It reports the share
of true listings called mismatched and, per corruption, the share detected; and the
listing as evidence (shared.domain.listing_evidence): taxonomy top-1 of the products the
photo alone was unsure of (flagged for their category), without and with their true
listings, and of the other products (which the listing must not change).
--records FILE keeps the records, so a second run checks listings without the pipeline.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path

from _common import PROJECT_ROOT, header, write
from rich.console import Console
from rich.table import Table

from shared.domain.listing import Listing
from shared.domain.listing_checks import check_listing, unsure_of
from shared.domain.listing_evidence import filed_items, with_evidence
from shared.domain.records import COLOUR_FAMILIES, GARMENTS, ImageRecord, Item, Options
from shared.domain.words import colour_lexicon, listing_word_lists, pack_word_lists

TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
SETS = {
    "public": (TESTDATA / "labels.json", TESTDATA / "public"),
    "dev": (TESTDATA / "dev" / "labels.json", TESTDATA / "dev"),
}
KINDS = json.loads((PROJECT_ROOT / "bench" / "garment_kinds.json").read_text())
LANGUAGES = ("en", "fr", "de", "es", "it", "nl", "ru")
# The families a colour may be mistaken for, or named by, next to each: a corrupted colour
# is none of these, so that it is clearly another colour.
NEIGHBOURS = {
    "black": {"grey", "navy", "brown"}, "white": {"grey", "beige", "pink", "yellow"},
    "grey": {"black", "white", "beige", "blue", "navy"}, "red": {"orange", "pink", "purple", "brown"},
    "orange": {"red", "yellow", "brown", "pink"}, "yellow": {"orange", "beige", "green", "white"},
    "green": {"yellow", "blue", "grey"}, "blue": {"navy", "purple", "green", "grey"},
    "navy": {"blue", "black", "purple"}, "purple": {"pink", "blue", "navy", "red"},
    "pink": {"red", "purple", "orange", "white"}, "brown": {"red", "orange", "beige", "black"},
    "beige": {"white", "brown", "yellow", "grey"},
}  # fmt: skip
WORN_CATEGORY = {"shoes": "shoes", "headwear": "accessories/hats", "top": "clothing/tops", "bottom": "clothing/bottoms"}


def words_for(category: str, language: str) -> list[str]:
    lists = {**pack_word_lists(), **listing_word_lists()["categories"]}.get(category, {})
    return lists.get(language) or lists.get("en") or []


def colour_word(name: str, language: str) -> str:
    """A family's plain word in the language; any other colour word (burgundy, silver) as it is."""
    if name in COLOUR_FAMILIES:
        return listing_word_lists()["colours"][name][language][0]
    return name


def families_of(words: list[str]) -> set[str]:
    return {family for word in words for entry in colour_lexicon().find(word) for family in entry.meanings}


def label_colour(label: dict, garment: str | None) -> list[str]:
    """The label's colour words for the product or a garment (none for multicolour)."""
    colour = (label.get("garment_colours") or {}).get(garment) if garment else label.get("product_colour")
    if not colour or colour.get("name") in (None, "multicolour"):
        return []
    return [colour["name"], *colour.get("also", [])]


def listings_for(label: dict, set_name: str, rng: random.Random) -> dict[str, dict] | None:
    """The true listing and its corrupted copies (by kind of corruption), or None for a
    photo no listing is written for."""
    language = rng.choice(LANGUAGES)
    if label["kind"] == "person":
        kinds = dict(KINDS[set_name].get(label["file"], {}))
        visible = label.get("garments_visible", [])
        kinds.update({g: WORN_CATEGORY[g] for g in ("shoes", "headwear") if g in visible})
        if not kinds:
            return None
        garment = rng.choice(sorted(kinds))
        category, colours = kinds[garment], label_colour(label, garment)
    elif label["kind"] == "product" and label["product_category"] != "background-other":
        category, colours = label["product_category"], label_colour(label, None)
    else:
        return None
    true = {"title": rng.choice(words_for(category, language)).capitalize()}
    if colours:
        true["colour"] = colour_word(rng.choice(colours), language)
    listings = {"true": true}
    if colours:
        near = families_of(colours)
        near |= {n for family in near for n in NEIGHBOURS[family]}
        far = sorted(set(COLOUR_FAMILIES) - near)
        listings["colour"] = {**true, "colour": colour_word(rng.choice(far), language)}
    if label["kind"] == "product":
        groups = {c.split("/")[0] for c in (category, *label.get("product_categories_ok", []))}
        others = sorted(
            c for c in {**pack_word_lists(), **listing_word_lists()["categories"]}
            if "/" in c and c.split("/")[0] not in groups and words_for(c, language)
        )  # fmt: skip
        other = rng.choice(others)
        listings["category"] = {**true, "title": rng.choice(words_for(other, language)).capitalize()}
    else:
        not_worn = [g for g in GARMENTS if g not in label.get("garments_visible", [])]
        if not_worn:
            worn_as = WORN_CATEGORY[rng.choice(not_worn)]
            listings["not worn"] = {"title": rng.choice(words_for(worn_as, language)).capitalize()}
    return listings


def records(sets: dict, listings: dict, cache: Path | None) -> dict[str, ImageRecord]:
    """Each photo's manifest record, run with its true listing (or read from the cache)."""
    kept = json.loads(cache.read_text()) if cache and cache.is_file() else {}
    found = {key: ImageRecord.model_validate(raw) for key, raw in kept.items()}
    missing = [key for key in listings if key not in found]
    if missing:
        from catalog.runner import process_file

        out = Path(tempfile.mkdtemp(prefix="listings-"))
        for key in missing:
            set_name, name = key.split("/", 1)
            path = sets[set_name][1] / name
            true = Listing.model_validate(listings[key]["true"])
            found[key] = process_file(path, out, f"{set_name}-{path.stem}", Options(), true)
            checked = found[key].listing
            print(key, checked.verdict if checked else "-", flush=True)
            if cache:
                cache.write_text(json.dumps({k: r.model_dump(mode="json") for k, r in found.items()}))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--records", type=Path, help="keep the pipeline's records here, and reuse them")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    listings, labels = {}, {}
    for set_name, (labels_file, _) in SETS.items():
        for label in json.loads(labels_file.read_text()):
            made = listings_for(label, set_name, rng)
            if made:
                listings[f"{set_name}/{label['file']}"] = made
                labels[f"{set_name}/{label['file']}"] = label
    seen = records(SETS, listings, args.records)
    rows = []
    for key, made in listings.items():
        photo = seen[key]
        for corruption, fields in made.items():
            result = check_listing(Listing.model_validate(fields), photo.kind, photo.items, Options().garments)
            rows.append(
                {
                    "set": key.split("/")[0], "photo": key.split("/", 1)[1], "listing": corruption,
                    "fields": fields, "verdict": result.verdict,
                    "checks": [c.model_dump(exclude_none=True) for c in result.checks],
                }
            )  # fmt: skip
    summary = summarise(rows)
    evidence = evidence_summary(seen, listings, labels)
    # The listings read wrong: a true one called mismatched, a corrupted one not caught.
    wrong = [row for row in rows if (row["listing"] == "true") == (row["verdict"] == "disagree")]
    record = header("listings")
    record.update(seed=args.seed, summary=summary, evidence=evidence, wrong=wrong)
    console = Console()
    table = Table(title=f"listings checked against the photos (seed {args.seed})")
    for column in ("set", "listing", "photos", "disagree", "agree", "unknown", "rate"):
        table.add_column(column)
    for line in summary:
        table.add_row(*(str(line[k]) for k in ("set", "listing", "photos", "disagree", "agree", "unknown", "rate")))
    console.print(table)
    console.print(evidence_table(evidence))
    for row in wrong:
        console.print(f"{row['set']}/{row['photo']} {row['listing']}: {row['verdict']} {row['fields']} {row['checks']}")
    write("listings", record, args.out)


def summarise(rows: list[dict]) -> list[dict]:
    """Per set and kind of listing: how many photos, each verdict, and the rate that
    matters (true listings: called mismatched; corrupted ones: detected)."""
    lines = []
    for set_name in SETS:
        for kind in ("true", "colour", "category", "not worn"):
            these = [r for r in rows if r["set"] == set_name and r["listing"] == kind]
            if not these:
                continue
            counts = {v: sum(r["verdict"] == v for r in these) for v in ("disagree", "agree", "unknown")}
            lines.append(
                {"set": set_name, "listing": kind, "photos": len(these), **counts,
                 "rate": round(counts["disagree"] / len(these), 3)}
            )  # fmt: skip
    return lines


def photo_alone(record: ImageRecord) -> list[Item]:
    """The record's items as the photo alone read them: a product its listing filed under
    the listed category back under the photo's own (kept in the category check)."""
    filed = {c.item: c for c in (record.listing.checks if record.listing else []) if c.filed}
    return [
        item.model_copy(update={"category": filed[i].seen, "category_score": filed[i].score}) if i in filed else item
        for i, item in enumerate(record.items)
    ]


def evidence_summary(seen: dict[str, ImageRecord], listings: dict, labels: dict) -> list[dict]:
    """Per set, taxonomy top-1 (as `catalog eval`: the first product, its category or one the
    label accepts) without and with the true listing as evidence, the listing step's own
    functions applied to the photo's own reading; for the products flagged for their
    category, and for the others."""
    tally: dict[tuple[str, str], list[tuple[bool, bool, bool]]] = {}
    for key, record in seen.items():
        label = labels.get(key)
        if label is None or record.kind != "product":
            continue
        own = photo_alone(record)
        listing = Listing.model_validate(listings[key]["true"])
        result = with_evidence(check_listing(listing, record.kind, own, Options().garments), own)
        helped = filed_items(own, result)
        first = next((i for i, item in enumerate(own) if item.type == "product"), None)
        accepted = {label["product_category"], *label.get("product_categories_ok", [])}
        if first is None:
            mark, group = (False, False, False), "unsure"  # no product found: flagged, as in `catalog eval`
        else:
            before, after = own[first].category, helped[first].category
            mark = (before in accepted, after in accepted, before != after)
            group = "unsure" if unsure_of(own[first], "category") else "others"
        tally.setdefault((key.split("/")[0], group), []).append(mark)
    lines = []
    for set_name in SETS:
        for group in ("unsure", "others"):
            marks = tally.get((set_name, group), [])
            lines.append(
                {"set": set_name, "products": group, "count": len(marks),
                 "top1_photo_alone": round(sum(m[0] for m in marks) / len(marks), 3) if marks else None,
                 "top1_with_listing": round(sum(m[1] for m in marks) / len(marks), 3) if marks else None,
                 "filed": sum(m[2] for m in marks)}
            )  # fmt: skip
    return lines


def evidence_table(lines: list[dict]) -> Table:
    table = Table(title="the true listing as evidence: taxonomy top-1 of the products")
    columns = ("set", "products", "count", "top1_photo_alone", "top1_with_listing", "filed")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for line in lines:
        table.add_row(*(str(line[k]) for k in columns))
    return table


if __name__ == "__main__":
    main()

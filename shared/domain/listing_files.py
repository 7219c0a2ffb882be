"""Listings as users send them: a JSON object from file name to listing (the API's
`listings` field, `catalog run --listings x.json`) or a CSV with a `file` column and a
column per listing field (`catalog run --listings x.csv`; the API's field takes a CSV's
text too, as the web page sends the file a user attaches). A bad entry is refused with the
entry (file name or CSV row) and the field it is wrong in."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from shared.domain.listing import LISTING_FIELDS, Listing

FILE_COLUMN = "file"
MAX_LISTINGS_BYTES = 2**20  # a listing's fields are bounded (Listing); so is the whole (a form field's limit)


class ListingError(ValueError):
    """What is wrong with the listings sent, naming the entry and field."""


def listing_of(where: str, fields: object) -> Listing:
    if not isinstance(fields, dict):
        raise ListingError(f"{where}: a listing is an object of fields ({', '.join(LISTING_FIELDS)})")
    try:
        return Listing.model_validate({k: v for k, v in fields.items() if v not in (None, "")})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'listing'}: {e['msg']}" for e in exc.errors())
        raise ListingError(f"{where}: {problems}") from None


def listings_from_json(text: str | bytes) -> dict[str, Listing]:
    if len(text) > MAX_LISTINGS_BYTES:
        raise ListingError(f"listings too large: over {MAX_LISTINGS_BYTES // 2**20} MB")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ListingError(f"listings are not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ListingError("listings: a JSON object from file name to listing")
    return {str(name): listing_of(f"listing for {name!r}", fields) for name, fields in data.items()}


def listings_from_csv(text: str) -> dict[str, Listing]:
    if len(text) > MAX_LISTINGS_BYTES:
        raise ListingError(f"listings too large: over {MAX_LISTINGS_BYTES // 2**20} MB")
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if FILE_COLUMN not in columns:
        raise ListingError(f"listings CSV: no '{FILE_COLUMN}' column (its columns: {', '.join(columns) or 'none'})")
    unknown = [c for c in columns if c not in (FILE_COLUMN, *LISTING_FIELDS)]
    if unknown:
        raise ListingError(f"listings CSV: unknown column {', '.join(unknown)}; known: {', '.join(LISTING_FIELDS)}")
    listings: dict[str, Listing] = {}
    for row_no, row in enumerate(reader, start=2):  # the header is row 1
        fields = {(k or "").strip(): v for k, v in row.items()}
        name = (fields.pop(FILE_COLUMN, None) or "").strip()
        if not name:
            raise ListingError(f"listings CSV row {row_no}: the '{FILE_COLUMN}' column is empty")
        if None in fields:
            raise ListingError(f"listings CSV row {row_no}: more values than columns")
        if name in listings:
            raise ListingError(f"listings CSV row {row_no}: a second listing for {name!r}")
        listings[name] = listing_of(f"listings CSV row {row_no} ({name!r})", fields)
    return listings


def listings_from_text(text: str) -> dict[str, Listing]:
    """JSON where the text opens as JSON does (an object or, wrongly, an array), else CSV."""
    text = text.removeprefix("\ufeff")  # a spreadsheet's UTF-8 byte-order mark
    return listings_from_json(text) if text.lstrip()[:1] in ("{", "[") else listings_from_csv(text)


def read_listings_file(path: Path) -> dict[str, Listing]:
    """A CSV (by its .csv suffix) or JSON listings file."""
    if path.stat().st_size > MAX_LISTINGS_BYTES:
        raise ListingError(f"{path.name}: too large, over {MAX_LISTINGS_BYTES // 2**20} MB")
    text = path.read_text(encoding="utf-8-sig")
    return listings_from_csv(text) if path.suffix.lower() == ".csv" else listings_from_json(text)


def unmatched(listings: dict[str, Listing], names: Iterable[str]) -> list[str]:
    """The listings' file names that name no photo sent."""
    sent = set(names)
    return [name for name in listings if name not in sent]

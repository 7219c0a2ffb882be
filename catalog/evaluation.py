"""Accuracy of the catalog against hand labels (`catalog eval`).

A labels file is a JSON list, one entry per photo: `file`, `kind`, `persons`,
`garments_visible`, `garment_colours`, `product_category`, `product_categories_ok`,
`product_colour` (see the README). The pipeline runs on each labelled photo and its
manifest record is compared with the label.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from skimage.color import deltaE_ciede2000

from catalog.runner import process_file
from services.color.color_names import colour_family, lab_of
from shared.domain.confidence import colour_features, confidence
from shared.domain.records import GARMENTS, ImageRecord, Options
from shared.domain.taxonomy import BACKGROUND

# Label words that name a shade of one of the colour families the product reports.
FAMILY_SYNONYMS = {
    "silver": "grey",
    "gray": "grey",
    "gold": "yellow",
    "burgundy": "red",
    "maroon": "red",
    "cream": "beige",
    "ivory": "white",
    "khaki": "beige",
    "lilac": "purple",
    "mauve": "purple",
    "charcoal": "grey",
    "teal": "green",
    "olive": "green",
    "tan": "brown",
}


def _hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def _delta_e(a_hex: str, b_hex: str) -> float:
    return float(deltaE_ciede2000(lab_of(_hex_rgb(a_hex)), lab_of(_hex_rgb(b_hex))))


def expects_person(label: dict) -> bool:
    return label.get("kind") == "person" or label.get("product_category") == "model"


def _main_person_items(record: ImageRecord) -> dict:
    return {i.garment: i for i in record.items if i.type == "garment" and i.person == 0}


def _compare_colour(label_colour: dict | None, item, what: str, photo: dict, colours: list) -> None:
    if not label_colour or label_colour.get("name") in (None, "multicolour") or not label_colour.get("hex"):
        return
    if item is None or item.color is None:
        return
    expected = FAMILY_SYNONYMS.get(label_colour["name"], label_colour["name"])
    # Other words a reasonable person accepts for this colour (dark-wash jeans: blue, also navy).
    also = [FAMILY_SYNONYMS.get(word, word) for word in label_colour.get("also", [])]
    got = colour_family(item.color.rgb)
    de = _delta_e(label_colour["hex"], item.color.hex)
    agrees = got == expected or got in also
    colours.append(
        {
            "photo": photo["file"],
            "what": what,
            "expected": expected,
            "also": also,
            "got": got,
            "agrees": agrees,
            "expected_hex": label_colour["hex"],
            "got_hex": item.color.hex,
            "de2000": de,
            "needs_review": item.needs_review,
            "colour_flagged": any(r.startswith("colour") for r in item.review_reasons),
            "score": item.color.score,
            "features": colour_features(item.color),
        }
    )
    if not agrees or de > 20:
        accepted = " or ".join([label_colour["name"], *label_colour.get("also", [])])
        photo["problems"].append(
            f"{what} colour: labelled {accepted} {label_colour['hex']}, got {got} {item.color.hex} (dE {de:.0f})"
        )


def score_photo(label: dict, record: ImageRecord, counts: dict, colours: list, product_rows: list) -> dict:
    """Compare one record with its label; tally into counts; return the photo's entry."""
    photo = {"file": label["file"], "category": label.get("product_category"), "problems": []}
    if record.status != "ok":
        photo["problems"].append(f"failed: {record.error}")
    want_person, got_person = expects_person(label), record.kind == "person"
    counts["kind"].append(want_person == got_person)
    if want_person != got_person:
        photo["problems"].append(f"kind: labelled {'person' if want_person else 'product'}, got {record.kind}")
    counts["people"].append(record.people == label.get("persons", 0))
    if record.people != label.get("persons", 0):
        photo["problems"].append(f"people: labelled {label.get('persons', 0)}, got {record.people}")

    if want_person:
        found = _main_person_items(record)
        visible = set(label.get("garments_visible", []))
        for g in GARMENTS:
            tally = counts["garments"][g]
            if g in found and g in visible:
                tally["tp"] += 1
            elif g in found:
                tally["fp"] += 1
                photo["problems"].append(f"garment {g}: cropped but not visible")
            elif g in visible:
                tally["fn"] += 1
                photo["problems"].append(f"garment {g}: visible but not cropped")
        for g, colour in (label.get("garment_colours") or {}).items():
            _compare_colour(colour, found.get(g), g, photo, colours)
    else:
        products = [i for i in record.items if i.type == "product"]
        accepted = {label.get("product_category"), *label.get("product_categories_ok", [])}
        first = products[0] if products else None
        top1 = first is not None and first.category in accepted
        top3 = first is not None and any(c.category in accepted for c in first.top3)
        counts["top1"].append(top1)
        counts["top3"].append(top3)
        counts["product_flagged"].append(first is None or first.needs_review)
        counts["category_flagged"].append(first is None or any(r.startswith("category") for r in first.review_reasons))
        if first is not None and first.category_score is not None:
            product_rows.append(
                {"photo": label["file"], "right": top1, "outside_catalog": first.category == BACKGROUND,
                 "share": round(float(confidence().product.share(first.category_score)), 5)}
            )  # fmt: skip
        if not top1:
            got = first.category if first else record.kind
            photo["problems"].append(f"category: labelled {label.get('product_category')}, got {got}")
        _compare_colour(label.get("product_colour"), first, "product", photo, colours)
    return photo


def _rate(values: list[bool]) -> float | None:
    return round(float(np.mean(values)), 3) if values else None


def _new_counts() -> dict:
    return {
        "kind": [],
        "people": [],
        "top1": [],
        "top3": [],
        "product_flagged": [],
        "category_flagged": [],
        "garments": {g: {"tp": 0, "fp": 0, "fn": 0} for g in GARMENTS},
    }


def _summary(counts: dict, colours: list) -> dict:
    des = [c["de2000"] for c in colours]
    garments = {}
    for g, t in counts["garments"].items():
        garments[g] = {
            "precision": round(t["tp"] / (t["tp"] + t["fp"]), 3) if t["tp"] + t["fp"] else None,
            "recall": round(t["tp"] / (t["tp"] + t["fn"]), 3) if t["tp"] + t["fn"] else None,
            **t,
        }
    return {
        "photos": len(counts["kind"]),
        "kind_accuracy": _rate(counts["kind"]),
        "people_count_accuracy": _rate(counts["people"]),
        "garments": garments,
        "taxonomy_top1": _rate(counts["top1"]),
        "taxonomy_top3": _rate(counts["top3"]),
        # What a catalog team that checks the flagged items and trusts the rest gets.
        "products_flagged": _rate(counts["product_flagged"]),
        "taxonomy_top1_unflagged": _rate([ok for ok, f in zip(counts["top1"], counts["product_flagged"]) if not f]),
        # The same for the category's own flag (a product flagged only for its colour still
        # has a category a team can trust).
        "products_flagged_for_category": _rate(counts["category_flagged"]),
        "taxonomy_top1_unflagged_for_category": _rate(
            [ok for ok, f in zip(counts["top1"], counts["category_flagged"]) if not f]
        ),
        # A family agrees when it is the labelled word or one of its `also` words; the
        # labelled word alone is reported beside it, so the difference the `also` words make
        # is visible.
        "colour_name_agreement": _rate([c["agrees"] for c in colours]),
        "colour_name_agreement_word_only": _rate([c["expected"] == c["got"] for c in colours]),
        # Colours flagged for their colour, and how often the rest are named right.
        "colours_flagged": _rate([c["colour_flagged"] for c in colours]),
        "colour_name_agreement_unflagged": _rate([c["agrees"] for c in colours if not c["colour_flagged"]]),
        "colour_name_agreement_unflagged_word_only": _rate(
            [c["expected"] == c["got"] for c in colours if not c["colour_flagged"]]
        ),
        # The same for whole items: an item flagged for its category or crop is checked too.
        "colours_of_flagged_items": _rate([c["needs_review"] for c in colours]),
        "colour_name_agreement_of_unflagged_items": _rate([c["agrees"] for c in colours if not c["needs_review"]]),
        "colour_de2000_median": round(float(np.median(des)), 2) if des else None,
        "colour_de2000_p90": round(float(np.percentile(des, 90)), 2) if des else None,
    }


def evaluate(
    labels_path: Path, images_dir: Path, out_dir: Path | None = None, options: Options | None = None, on_photo=None
) -> dict:
    """Run the pipeline on every labelled photo and score it, overall and per category
    (the top-level part of the labelled category: clothing, food, model, ...)."""
    labels = json.loads(Path(labels_path).read_text())
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="catalog-eval-"))
    options = options or Options()
    overall, colours, products = _new_counts(), list[dict](), list[dict]()
    by_group: dict[str, tuple[dict, list, list]] = defaultdict(lambda: (_new_counts(), [], []))
    photos, records = [], {}
    for label in labels:
        path = Path(images_dir) / label["file"]
        record = process_file(path, out_dir, Path(label["file"]).stem, options)
        records[label["file"]] = record
        group = (label.get("product_category") or "unknown").split("/")[0]
        score_photo(label, record, *by_group[group])
        photos.append(score_photo(label, record, overall, colours, products))
        if on_photo:
            on_photo(photos[-1])
    report = _summary(overall, colours)
    report["per_category"] = {g: _summary(c, col) for g, (c, col, _) in sorted(by_group.items())}
    report["failures"] = [p for p in photos if p["problems"]]
    report["colours"] = colours
    report["products"] = products
    report["output_dir"] = str(out_dir)
    sheet = contact_sheet(report["failures"], records, out_dir)
    report["contact_sheet"] = str(sheet) if sheet else None
    return report


def contact_sheet(failures: list[dict], records: dict[str, ImageRecord], out_dir: Path, count: int = 12) -> Path | None:
    """The photos with the most problems side by side, each with its problems written
    under it, so a person can look at what went wrong."""
    from PIL import Image, ImageDraw

    worst = sorted(failures, key=lambda p: -len(p["problems"]))[:count]
    if not worst:
        return None
    cell_w, img_h, text_h, cols = 320, 300, 110, 4
    rows = (len(worst) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * cell_w, rows * (img_h + text_h)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, photo in enumerate(worst):
        x, y = (n % cols) * cell_w, (n // cols) * (img_h + text_h)
        record = records[photo["file"]]
        preview = out_dir / record.preview if record.preview else Path(record.source)
        try:
            im = Image.open(preview).convert("RGB")
            im.thumbnail((cell_w - 10, img_h - 10))
            sheet.paste(im, (x + 5, y + 5))
        except OSError:
            draw.text((x + 10, y + 10), "(unreadable)", fill="red")
        lines = [photo["file"], *photo["problems"]][:7]
        draw.multiline_text((x + 5, y + img_h), "\n".join(line[:52] for line in lines), fill="black", spacing=2)
    path = out_dir / "worst-cases.jpg"
    sheet.save(path, quality=85)
    return path

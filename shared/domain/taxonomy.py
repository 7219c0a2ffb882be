"""Catalog categories and how the 1000 ImageNet classes map onto them.

The product classifier is an ImageNet-1k model; its softmax is folded into the
catalog's own categories with a fixed table, ``data/imagenet_taxonomy.csv``
(one explicit row per ImageNet class, in model output order). Keeping the table
as data means it can be reviewed and edited without touching code.

Mapping conventions used in the table (so edits stay consistent):

* ``kitchen-appliances`` also takes cookware, utensils and tableware (pans, teapot,
  coffee mug, goblet, soup bowl, tray, ...): the catalog has no tableware category
  and this is the nearest one. Laundry and household appliances (iron, washer,
  vacuum, electric fan, space heater) are not kitchen items and stay background.
* ``food/drinks`` takes packaged drink containers (beer/wine/pop/water bottle,
  whiskey jug) and the classes whose ImageNet photos show the drink itself
  (espresso, cup, eggnog, red wine, beer glass).
* ImageNet has no cake, pastry or sweets classes, so the shop-scene classes
  ``bakery`` and ``confectionery`` (whose photos are displays of bread and sweets)
  map to ``food/bakery`` and ``food/desserts``; other shop scenes stay background.
* ``clothing/swimwear-underwear`` also holds hosiery (sock).
* ``pajama`` is ``clothing/bottoms``: the classifier calls loose trousers pyjamas. On the
  labelled photos it held 0.07-0.09 on four packshots (two pairs of trousers, a dress, a
  sweatshirt) and on no swimwear or underwear; filed as swimwear, it tipped a pair of
  trousers on white into swimwear. The catalog has no sleepwear category.
* ``accessories/hats`` is every hat, cap and helmet (incl. ski mask, bearskin,
  pickelhaube); ``HEADWEAR_IMAGENET`` is derived from it.
* ``wool`` (ImageNet's photos are yarn and knitting) is ``clothing/tops``: in a catalog a
  knitted thing on a table or a sweep is knitwear, and the catalog has no yarn category.
  ``pencil box`` (zipped pencil cases) is ``accessories/other``.
* ``apron`` is ``clothing/dresses``: an apron is a garment (ImageNet's photos are aprons
  worn over clothes), the nearest catalog category is the pinafore dress, and a
  sleeveless dress laid flat on a sweep has an apron's outline.
* Nothing maps to ``model``: photos of people get it from the person detector.
  People classes (groom, scuba diver, ballplayer) are background.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

import numpy as np

CATEGORIES: tuple[str, ...] = (
    "model",
    "shoes/sneakers",
    "shoes/boots",
    "shoes/sandals",
    "shoes/formal",
    "clothing/tops",
    "clothing/outerwear",
    "clothing/bottoms",
    "clothing/dresses",
    "clothing/swimwear-underwear",
    "food/fruit-vegetables",
    "food/bakery",
    "food/dishes",
    "food/desserts",
    "food/drinks",
    "cosmetics/lipstick",
    "cosmetics/skincare",
    "cosmetics/perfume",
    "cosmetics/makeup",
    "cosmetics/haircare",
    "kitchen-appliances",
    "accessories/bags",
    "accessories/watches",
    "accessories/eyewear",
    "accessories/jewellery",
    "accessories/hats",
    "accessories/ties",
    "accessories/other",
    "background-other",
)
BACKGROUND = "background-other"

NUM_IMAGENET_CLASSES = 1000
_CSV_HEADER = ["index", "imagenet_class", "category"]


@cache
def _rows() -> tuple[tuple[str, str], ...]:
    """(imagenet_class, category) per ImageNet index, read once from the package data.

    importlib.resources (not a path relative to this file) so it also works from an
    installed wheel or zip.
    """
    text = resources.files("shared.domain").joinpath("data/imagenet_taxonomy.csv").read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    if next(reader, None) != _CSV_HEADER:
        raise ValueError(f"imagenet_taxonomy.csv: header must be {','.join(_CSV_HEADER)}")
    rows: list[tuple[str, str]] = []
    for line_no, row in enumerate(reader, start=2):
        # The index column must match the position: the table is indexed by model output.
        if len(row) != 3 or row[0] != str(len(rows)):
            raise ValueError(f"imagenet_taxonomy.csv line {line_no}: expected index {len(rows)}, got {row!r}")
        rows.append((row[1], row[2]))
    if len(rows) != NUM_IMAGENET_CLASSES:
        raise ValueError(f"imagenet_taxonomy.csv: {len(rows)} rows, expected {NUM_IMAGENET_CLASSES}")
    return tuple(rows)


@cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet class names, in model output order."""
    return tuple(name for name, _ in _rows())


@cache
def imagenet_to_category() -> tuple[str, ...]:
    """Catalog category id for each ImageNet class, in model output order."""
    valid = set(CATEGORIES)
    for index, (name, category) in enumerate(_rows()):
        if category not in valid:
            raise ValueError(f"imagenet_taxonomy.csv row {index} ({name!r}): unknown category {category!r}")
    return tuple(category for _, category in _rows())


@cache
def _category_index() -> np.ndarray:
    """Position in CATEGORIES of each ImageNet class's category (for bincount)."""
    position = {c: i for i, c in enumerate(CATEGORIES)}
    return np.array([position[c] for c in imagenet_to_category()], dtype=np.intp)


def category_scores(probs) -> list[tuple[str, float]]:
    """Fold an ImageNet softmax (length 1000) into catalog categories.

    Each category scores the summed probability of its ImageNet classes. Returns every
    category with non-zero mass, highest first (ties keep CATEGORIES order).
    """
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape != (NUM_IMAGENET_CLASSES,):
        raise ValueError(f"expected {NUM_IMAGENET_CLASSES} ImageNet probabilities, got shape {np.shape(probs)}")
    sums = np.bincount(_category_index(), weights=p, minlength=len(CATEGORIES))
    scored = [(c, float(s)) for c, s in zip(CATEGORIES, sums) if s > 0]
    return sorted(scored, key=lambda cs: cs[1], reverse=True)


# Hats, caps and helmets: used to recognise headwear. Derived from the table so the
# list of hat classes lives in one place.
HEADWEAR_IMAGENET: frozenset[int] = frozenset(
    i for i, c in enumerate(imagenet_to_category()) if c == "accessories/hats"
)

"""The catalog's records: what each stage finds (people, items, colours, categories), the
manifest a user reads, the options a user chooses, and an item as the stages fill it in."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.domain.listing import ListingResult
from shared.domain.styles import StyleGuide, StyleRef
from shared.infra.imageio import parse_background

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive
Garment = Literal["top", "bottom", "headwear", "shoes"]
GARMENTS: tuple[Garment, ...] = ("top", "bottom", "headwear", "shoes")
AspectPreset = Literal["3:4", "1:1", "4:5", "free"]
# A matte's alpha above which a pixel belongs to the item (every stage reading a matte).
ITEM_ALPHA = 0.5


class Keypoint(BaseModel):
    name: str
    x: float  # pixels
    y: float
    z: float
    visibility: float


class Person(BaseModel):
    box: Box
    keypoints: list[Keypoint]


class CategoryScore(BaseModel):
    category: str
    score: float


class Classification(BaseModel):
    category: str
    score: float
    top3: list[CategoryScore]
    imagenet_top: list[CategoryScore]  # raw model classes, for debugging and evaluation


class PaletteEntry(BaseModel):
    hex: str
    rgb: tuple[int, int, int]
    share: float
    name: str | None = None  # its family word
    near_names: list[str] = Field(default_factory=list)  # the family words on its border


# The plain family words a shopper uses for a colour (services.color names them).
COLOUR_FAMILIES = (
    "black", "white", "grey", "red", "orange", "yellow", "green",
    "blue", "navy", "purple", "pink", "brown", "beige",
)  # fmt: skip


class ColorResult(BaseModel):
    hex: str
    rgb: tuple[int, int, int]
    name: str  # the plain family word a shopper uses: black, white, grey, navy, red, ...
    css_name: str  # the nearest CSS colour name, finer: crimson, darkslategray, ...
    palette: list[PaletteEntry]
    # Other family words a just noticeable difference away: the colour is on their border
    # (navy and blue), and a shopper may call it by either.
    near_names: list[str] = Field(default_factory=list)
    # Too few of the item's own pixels were seen (a garment the matte misses, a product all
    # soft edge): the colour is measured on a wider area, which holds what is around it.
    from_wider_area: bool = False
    # Measured on one of several people: a neighbour may hide part of the garment or lend
    # it their own colours.
    in_group: bool = False
    # A worn garment whose dominant colour is a skin tone: the wearer's skin may have been
    # measured for it (skin the face and hands did not sample: a back view, a bare midriff).
    skin_toned: bool = False
    # The probability that a person names this colour by `name`, fitted on labelled photos
    # (shared.domain.confidence); below its threshold the colour is flagged for review.
    score: float | None = None


class ItemFiles(BaseModel):
    image: str
    cutout: str | None = None
    swatch: str | None = None


ItemType = Literal["garment", "look", "product"]


class Item(BaseModel):
    type: ItemType  # a look is a style guide's whole-person output
    garment: Garment | None = None
    person: int | None = None  # index of the person a garment or look belongs to
    category: str | None = None  # none for a look
    category_score: float | None = None
    top3: list[CategoryScore] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)  # product: the lines printed on it, largest first (OCR)
    box: Box  # garment, look: the photo's part shown (past its edge where padded); product: the instance
    size: tuple[int, int] | None = None  # the image's width and height, where a style guide set them
    warnings: list[str] = Field(default_factory=list)  # rules of the style guide met only in part
    # Unsure of its category, colour or crop (shared.domain.review): the items a catalog team checks.
    needs_review: bool = False
    review_reasons: list[str] = Field(default_factory=list)
    files: ItemFiles
    color: ColorResult | None = None


class Skipped(BaseModel):
    """An output a style guide asked for that this photo could not give."""

    output: str  # look, top, bottom, headwear, shoes or product
    person: int | None = None
    reason: str


class ImageRecord(BaseModel):
    source: str
    status: Literal["ok", "failed"]
    error: str | None = None
    kind: Literal["person", "product"] | None = None
    width: int | None = None
    height: int | None = None
    # The size the photo came in, where it was larger than the working size and shrunk to
    # width x height (keypoints, boxes and images are of the shrunk photo).
    scaled_from: tuple[int, int] | None = None
    people: int = 0
    preview: str | None = None  # the photo (skeleton drawn on people), relative to the output dir
    keypoints: list[list[Keypoint]] | None = None  # one list of 33 per person; null for products
    items: list[Item] = Field(default_factory=list)
    style: StyleRef | None = None  # the guide that framed the images (name and content hash)
    skipped: list[Skipped] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    listing: ListingResult | None = None  # the photo's listing checked against it, where one was sent


class Options(BaseModel):
    """What a user may choose per job."""

    garments: list[Garment] = Field(default_factory=lambda: list(GARMENTS))
    aspect: AspectPreset = "3:4"
    padding: float = Field(0.08, ge=0, le=1, description="margin around a crop, as a share of its size")
    background: str = Field(
        "white", max_length=32, description="'transparent', 'white' or a hex colour (#rgb, #rrggbb) behind items"
    )
    format: Literal["png", "webp", "jpeg"] = "jpeg"
    swatch_size: int = Field(50, ge=4, le=1024)
    palette_size: int = Field(5, ge=1, le=12)
    # The job's style guide, whole (so a guide changed or deleted later does not change
    # the job); with none, crops follow aspect and padding.
    style: StyleGuide | None = None

    @field_validator("background")
    @classmethod
    def _known_background(cls, value: str) -> str:
        """The rules the color stage applies (shared.infra.imageio.parse_background), checked when
        the options are made: a bad colour is refused with the job, not by each photo."""
        parse_background(value)  # ValueError names the value and what is accepted
        return value


class Manifest(BaseModel):
    version: int = 1
    created: str
    options: Options
    images: list[ImageRecord]


class ItemState(BaseModel):
    """One catalog item as the stages fill it in."""

    type: ItemType
    garment: Garment | None = None
    person: int | None = None
    region: Box | None = None  # garment, look: the tight region from the keypoints, before framing
    box: Box  # the framed crop (garment, look) or the instance's box (product)
    size: tuple[int, int] | None = None
    background: str | None = None  # the style guide's, where it sets one for this output
    warnings: list[str] = Field(default_factory=list)
    category: str | None = None
    category_score: float | None = None
    top3: list[CategoryScore] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)
    color: ColorResult | None = None
    work_cutout: str | None = None  # product: intermediate RGBA cutout, relative to the photo's work area
    name: str | None = None  # file base name in the catalog ("top", "item-2")
    files: ItemFiles | None = None  # catalog files, relative to the catalog root


# Files at the catalog's top level: no photo folder may take their names.
RESERVED_SLUGS = frozenset({"manifest.json", "index.html"})


# A photo's folder name is at most this long, plus "-<n>" where names repeat in a job (file
# systems take 255 bytes a name; the items' files inside add their own names to it).
MAX_SLUG = 64


def slugify(name: str, taken: set[str]) -> str:
    """A photo's folder in the catalog, from its file name: safe characters only, unique
    among `taken` (which it joins). The CLI and the cluster name photos alike."""
    stem = PurePath(name.replace("\\", "/")).stem[:MAX_SLUG]  # bounded: a folder name has a length limit
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "photo"
    slug, n = base, 2
    while slug in taken or slug in RESERVED_SLUGS:
        slug, n = f"{base}-{n}", n + 1
    taken.add(slug)
    return slug

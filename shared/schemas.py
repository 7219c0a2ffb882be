"""Typed results of each stage and the catalog manifest (shared by the CLI and workers)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1/y1 exclusive
Garment = Literal["top", "bottom", "headwear", "shoes"]
GARMENTS: tuple[Garment, ...] = ("top", "bottom", "headwear", "shoes")
AspectPreset = Literal["3:4", "1:1", "4:5", "free"]


class Keypoint(BaseModel):
    name: str
    x: float  # pixels
    y: float
    z: float
    visibility: float


class Person(BaseModel):
    box: Box
    keypoints: list[Keypoint]


class Detection(BaseModel):
    """Person-or-product decision for a whole photo."""

    is_person: bool
    people: list[Person]


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


class ColorResult(BaseModel):
    hex: str
    rgb: tuple[int, int, int]
    name: str
    palette: list[PaletteEntry]


class ItemFiles(BaseModel):
    image: str
    cutout: str | None = None
    swatch: str | None = None


class Item(BaseModel):
    type: Literal["garment", "product"]
    garment: Garment | None = None
    person: int | None = None  # index of the person a garment belongs to
    category: str
    category_score: float
    top3: list[CategoryScore] = Field(default_factory=list)
    box: Box
    files: ItemFiles
    color: ColorResult | None = None


class ImageRecord(BaseModel):
    source: str
    status: Literal["ok", "failed"]
    error: str | None = None
    kind: Literal["person", "product"] | None = None
    width: int | None = None
    height: int | None = None
    people: int = 0
    preview: str | None = None  # the photo (skeleton drawn on people), relative to the output dir
    keypoints: list[list[Keypoint]] | None = None  # one list of 33 per person; null for products
    items: list[Item] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Options(BaseModel):
    """What a user may choose per job."""

    garments: list[Garment] = Field(default_factory=lambda: list(GARMENTS))
    aspect: AspectPreset = "3:4"
    padding: float = Field(0.08, ge=0, le=1, description="margin around a crop, as a share of its size")
    background: str = Field("white", description="'transparent', 'white' or a hex colour for flattened images")
    format: Literal["png", "webp", "jpeg"] = "jpeg"
    swatch_size: int = Field(50, ge=4, le=1024)
    palette_size: int = Field(5, ge=1, le=12)


class Manifest(BaseModel):
    version: int = 1
    created: str
    options: Options
    images: list[ImageRecord]

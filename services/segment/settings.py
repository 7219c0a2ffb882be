"""The segment stage's thresholds (environment: CATALOG_SEGMENT_<NAME>)."""

from functools import cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SegmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_SEGMENT_")

    # An instance must cover this share of the photo and of the largest instance; smaller
    # blobs are crumbs, shadows or reflections, not products.
    min_area_of_image: float = Field(0.005, ge=0, le=1)
    min_area_of_largest: float = Field(0.08, ge=0, le=1)
    # A product is filed under a catalog category once that category holds this share of
    # the classifier's belief; below it, background-other.
    item_min_score: float = Field(0.1, ge=0, le=1)
    # Text on a product: its words add text_weight to the categories they name, plus the
    # share of the classifier's belief in containers (packet, carton, bottle, tube: a
    # pack's shape says little of what is in it). OCR runs only where that can change the
    # answer, at ocr_max_side px on the item's longer side.
    text_weight: float = Field(0.5, ge=0)
    ocr_max_side: int = Field(960, ge=64)
    # A product's category_score is the probability that its category is right: the share
    # s of the evidence the category holds, Platt-scaled to sigmoid(slope * logit(s) +
    # offset), with the slope and offset fitted on labelled photos
    # (shared.domain.confidence). Set both to use others; slope 1 and offset 0 give the raw share.
    category_slope: float | None = Field(None, gt=0)
    category_offset: float | None = None
    # The matte model: fp32 (the reference, onnxruntime), int8 (OpenVINO, made and checked
    # by `make setup`; about twice as fast on a CPU), or auto (int8 on a CPU when it is
    # there, fp32 on CUDA). CATALOG_MATTE_BACKEND.
    matte_backend: Literal["auto", "fp32", "int8"] = Field("auto", validation_alias="CATALOG_MATTE_BACKEND")
    # An int8 matte whose soft band (alpha 0.1-0.9) covers more than this share of its solid
    # area is made again in fp32. Set on the public photos, checked on the dev set.
    int8_max_soft_share: float = Field(0.6, ge=0)
    # A product photo's edge is a plain background when plain_edge_share of it lies within
    # plain_edge_delta_e (CIEDE2000) of its median colour. What differs from it by more than
    # stands_out_delta_e (a cream knit on white is 6-11 away) is an item; where that is
    # missed_share times the matte inside it or more, the matte missed most of the item
    # (a pale knit whose print alone stood out). Measured on the public and dev packshots:
    # the one such miss is 14 times its matte, every whole matte 1.22 or less.
    plain_edge_share: float = Field(0.6, ge=0, le=1)
    plain_edge_delta_e: float = Field(3.0, ge=0)
    stands_out_delta_e: float = Field(5.0, ge=0)
    missed_share: float = Field(2.0, ge=1)
    # Threads for the matte model; 0: one per core. Workers sharing cores take fewer each.
    threads: int = Field(0, ge=0)


@cache
def segment_settings() -> SegmentSettings:
    return SegmentSettings()

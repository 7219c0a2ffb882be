"""The segment stage's thresholds (environment: CATALOG_SEGMENT_<NAME>)."""

from functools import cache

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


@cache
def segment_settings() -> SegmentSettings:
    return SegmentSettings()

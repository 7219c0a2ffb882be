"""The color stage's thresholds (environment: CATALOG_COLOR_<NAME>)."""

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ColorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_COLOR_")

    # k-means splits one evenly coloured area into several clusters that differ only by
    # noise or faint shading; clusters closer than this (CIEDE2000; ~2 is just noticeable
    # side by side) are merged, so that a plain red shirt is one 100% red and not five 20%
    # reds. Mild noise (sigma 3 per RGB channel) already gives clusters up to 5-9 apart on
    # greys, because CIEDE2000 stretches a* near the neutral axis; 8 merges those and still
    # keeps colours that a shopper tells apart at a glance.
    merge_delta_e: float = Field(8.0, ge=0)
    # Pixels sampled for k-means: pins the shares to about +-0.5% and keeps it fast.
    max_pixels: int = Field(20_000, ge=100)
    # Garment pixels this close (CIEDE2000) to one of the wearer's skin tones are left out ...
    skin_delta_e: float = Field(12.0, ge=0)
    # ... unless that would leave less than this share (a skin-coloured garment).
    skin_keep_at_least: float = Field(0.2, ge=0, le=1)
    # A mask with fewer pixels is not trusted; the colour falls back to a wider one.
    min_colour_pixels: int = Field(25, ge=1)
    # A product pixel this transparent still counts when the item has too few solid ones.
    fallback_alpha: float = Field(0.05, ge=0, le=1)
    # The catalog's preview.jpg is at most this many pixels on its long side.
    preview_side: int = Field(1024, ge=64)


@cache
def color_settings() -> ColorSettings:
    return ColorSettings()

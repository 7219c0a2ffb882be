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
    # A skin site (face, hands, shins) is sampled where at least this many of its pixels are
    # seen, and its median taken for skin only where it looks like skin: this much chroma
    # (CIELAB), a hue in this range (degrees: the reds, oranges and yellows of every skin
    # tone) and this much lightness. A back view places "face" points on hair, hands can be
    # gloved, shins can be in trousers or socks: their colour must stay in the garments.
    skin_min_pixels: int = Field(9, ge=1)
    skin_min_chroma: float = Field(8.0, ge=0)
    skin_hue_range: tuple[float, float] = (15.0, 95.0)
    skin_min_lightness: float = Field(20.0, ge=0, le=100)


@cache
def color_settings() -> ColorSettings:
    return ColorSettings()

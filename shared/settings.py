"""Configuration from the environment (CATALOG_*), one place for every component."""

from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.imageio import MAX_PIXELS, MIN_SIDE

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    models_dir: Path = PROJECT_ROOT / "models"
    device: str = "auto"  # auto | cpu | cuda
    max_pixels: int = MAX_PIXELS  # larger uploads are refused (decompression bombs)
    min_side: int = MIN_SIDE


@cache
def settings() -> Settings:
    return Settings()

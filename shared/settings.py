"""Configuration from the environment (CATALOG_*), one place for every component."""

from functools import cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    models_dir: Path = PROJECT_ROOT / "models"
    device: str = "auto"  # auto | cpu | cuda
    max_pixels: int = 50_000_000
    min_side: int = 32


@cache
def settings() -> Settings:
    return Settings()

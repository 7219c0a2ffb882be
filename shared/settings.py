"""Configuration from the environment (CATALOG_*), one place for every component."""

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.imageio import MAX_PIXELS, MIN_SIDE

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    models_dir: Path = PROJECT_ROOT / "models"
    device: str = "auto"  # auto | cpu | cuda
    max_pixels: int = MAX_PIXELS  # larger uploads are refused (decompression bombs)
    min_side: int = MIN_SIDE

    # --- the cluster ---------------------------------------------------------------------
    # Celery broker, Celery results and job records all live in this Redis database.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Blob store for originals, intermediates and the catalog files (shared.storage):
    # file:///abs/dir, or s3://bucket/prefix (credentials from the usual AWS_* variables).
    storage_url: str = (PROJECT_ROOT / "data" / "blobs").as_uri()
    s3_endpoint_url: str | None = None  # an S3-compatible server (MinIO, Ceph, moto, ...)
    # Accepted API keys (comma-separated in CATALOG_API_KEYS); none: keys are off (local use).
    api_keys: Annotated[list[str], NoDecode] = []
    webhook_secret: str | None = None  # HMAC key for signing webhook calls
    # May webhook calls go to loopback, private or link-local addresses? Unset: only when
    # keys are off (one local user); with keys on, a caller could otherwise make the
    # workers call services inside the cluster network.
    webhook_allow_private: bool | None = None
    # --- the gateway ---------------------------------------------------------------------
    port: int = 8000  # `make run` serves the gateway on 127.0.0.1 at this port
    # Where clients reach the gateway (links in webhook calls, which have no request to
    # take the address from).
    public_url: str = "http://127.0.0.1:8000"
    max_upload_mb: float = 50  # per file; larger files are refused (413)
    max_files: int = 200  # per job
    # Per task: the soft limit raises inside the task (the image fails with a reason); the
    # hard limit kills the worker process (counted from the soft limit's end when both are
    # set, so keep hard > soft). 0 turns a limit off. The broker's visibility timeout is
    # set above the hard limit.
    task_soft_time_limit: int = 300
    task_time_limit: int = 360

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value):
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def private_webhooks_allowed(self) -> bool:
        return not self.api_keys if self.webhook_allow_private is None else self.webhook_allow_private


@cache
def settings() -> Settings:
    return Settings()

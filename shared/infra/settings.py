"""Configuration from the environment (CATALOG_*), one place for every component."""

from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.infra.imageio import MAX_PIXELS, MIN_SIDE, WORKING_PIXELS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_")

    models_dir: Path = PROJECT_ROOT / "models"
    device: str = "auto"  # auto | cpu | cuda
    max_pixels: int = MAX_PIXELS  # larger uploads are refused (decompression bombs)
    min_side: int = MIN_SIDE
    # A larger photo is shrunk to this many pixels as it is decoded: the models, crops and
    # files work on the shrunk photo, and its record says the size it came in (scaled_from).
    working_pixels: int = Field(WORKING_PIXELS, ge=1_000_000)
    # A style guide's image is at most this many pixels (a guide's size is refused above it;
    # a crop with no size is shrunk to it), and its crop at most this many times the photo's
    # height (a guide whose rules can ask for more is refused; a photo where they do skips it).
    max_output_pixels: int = Field(16_000_000, ge=65_536)
    max_crop_factor: float = Field(4.0, ge=1.0)
    # The catalog's preview.jpg (the photo, the skeleton drawn on people) is at most this
    # many pixels on its long side.
    preview_side: int = Field(1024, ge=64)

    # --- the cluster ---------------------------------------------------------------------
    # Celery broker, Celery results and job records all live in this Redis database.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Blob store for originals, intermediates and the catalog files (shared.infra.storage):
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
    # --- webhook delivery (the `webhooks` worker) ----------------------------------------
    # A longer webhook_url is refused at submit (422): URLs that long are no receiver's.
    webhook_url_max_chars: int = Field(2048, ge=16)
    # One call, start to end (connect, send, the whole answer): past it the call has failed
    # and is retried like any failure.
    webhook_timeout_s: float = Field(10.0, gt=0)
    # Calls in flight at once in one webhooks worker (threads; each mostly waits on a
    # receiver): slow receivers hold at most this many, and never a stage.
    webhook_concurrency: int = Field(8, ge=1)
    # The first call and its retries; a retry waits webhook_backoff_s, doubling each time,
    # at most 10 minutes (5 s and 9 attempts: about 20 minutes in all).
    webhook_max_attempts: int = Field(9, ge=1)
    webhook_backoff_s: float = Field(5.0, ge=0)
    # --- the gateway ---------------------------------------------------------------------
    port: int = 8000  # `make run` serves the gateway on 127.0.0.1 at this port
    # Where clients reach the gateway (links in webhook calls, which have no request to
    # take the address from).
    public_url: str = "http://127.0.0.1:8000"
    # The Host names a request may carry (comma-separated; "*.example.com" matches its
    # subdomains, "*" any host). Unset: with CATALOG_PUBLIC_URL set, any host (the links in
    # answers come from CATALOG_PUBLIC_URL, never from Host); without it, the loopback names
    # only (links come from the request's host, so it must be one we trust). Set: these and
    # CATALOG_PUBLIC_URL's host; another Host is refused (400). /healthz, /readyz and
    # /metrics take any Host (probes and scrapers address pods by IP).
    trusted_hosts: Annotated[list[str], NoDecode] = []
    # A key for /metrics (sent as `Authorization: Bearer <key>`, as Prometheus's scrape
    # `authorization` does, or as X-API-Key); unset: /metrics is open, its series bounded.
    # The API keys do not open it: they belong to the shops, the metrics to the operator.
    metrics_key: str | None = None
    # The gateway's connections (services/gateway/connections.py, served by
    # services/gateway/serve.py): a request's head must arrive whole within
    # header_timeout_s; its body may fall silent for at most body_timeout_s, and must arrive
    # whole within body_deadline_s (408 past either); an idle kept-alive connection is closed
    # after keep_alive_s. One client address holds at most max_connections_per_ip connections
    # (429 past it; 0: no cap, as behind a proxy, which caps them itself); the process serves
    # at most max_connections at once (503 past it); a request head is at most max_header_kb.
    header_timeout_s: float = Field(10.0, gt=0)
    body_timeout_s: float = Field(30.0, gt=0)
    body_deadline_s: float = Field(900.0, gt=0)
    keep_alive_s: int = Field(5, ge=1)
    max_connections_per_ip: int = Field(32, ge=0)
    max_connections: int = Field(1000, ge=1)
    max_header_kb: int = Field(16, ge=1)
    # A JSON request body (the style preview, a default guide; not a guide's own upload,
    # which has its limits) is at most max_json_kb, nested at most max_json_depth deep (422).
    max_json_kb: int = Field(1024, ge=1)
    max_json_depth: int = Field(32, ge=2)
    max_upload_mb: float = 50  # per file; larger files are refused (413)
    max_files: int = 200  # per job
    # Per request, every file and field together: a body that passes it is cut off with a
    # 413 as it arrives (at once when its Content-Length says so), never read whole.
    max_request_mb: float = 500
    # An Idempotency-Key whose job is still being stored is held for this long past the last
    # sign of life of the request storing it (then it expires: a gateway killed mid-upload
    # leaves no key naming a job that never came); a retry waits up to this long for it.
    idempotency_pending_s: float = 30.0
    # Per task: the soft limit raises inside the task (the image fails with a reason); the
    # hard limit kills the worker process (counted from the soft limit's end when both are
    # set, so keep hard > soft). 0 turns a limit off. The broker's visibility timeout is
    # set above the hard limit.
    task_soft_time_limit: int = 300
    task_time_limit: int = 360
    # A running stage beats every heartbeat_s; one silent for stall_after_s lost its worker
    # (killed, or cut off from Redis), and the sweeper sends the stage again.
    heartbeat_s: float = 5.0
    stall_after_s: float = 30.0
    # How often the sweeper (in the gateway) looks for stalled photos; 0 turns it off.
    sweep_interval_s: float = 15.0
    # A stage that loses Redis waits this long for it to come back, then starts over.
    redis_wait_s: float = 120.0

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value):
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("trusted_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value):
        if isinstance(value, str):
            return [host.strip().lower() for host in value.split(",") if host.strip()]
        return value

    @property
    def public_url_set(self) -> bool:
        """Was CATALOG_PUBLIC_URL given? Then the gateway's links use it, whatever Host a
        request names; else the default above serves only the webhook calls."""
        return "public_url" in self.model_fields_set and bool(self.public_url.strip())

    @property
    def private_webhooks_allowed(self) -> bool:
        return not self.api_keys if self.webhook_allow_private is None else self.webhook_allow_private


@cache
def settings() -> Settings:
    return Settings()

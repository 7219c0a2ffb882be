"""Where a job lives: its Redis keys and its blob keys.

Redis (namespace `ns`, CATALOG's default "catalog"):

    {ns}:job:{job_id}                  id, owner, status, options, created, updated, finished,
                                       total, done, failed, images (ids in upload order),
                                       idempotency_key, webhook_url, webhook_status,
                                       webhook_attempts, webhook_error
    {ns}:job:{job_id}:image:{image_id} id, source, slug, status, stage, error, error_code,
                                       stages (per-stage runs), state (PhotoState),
                                       record (its manifest record, once ended), updated
    {ns}:idem:{owner}:{sha256(key)}    the job id an idempotency key was first used for
    {ns}:owner:{owner}                 sorted set of the owner's job ids, by creation time
    {ns}:beat:{job_id}:{image_id}      the stage running on the photo, kept alive by its worker
    {ns}:sweeper                       held by the one sweeper at work
    {ns}:uploads:pending               jobs being stored -> the storing request's last sign of life
    {ns}:uploads:job:{job_id}          present while that request may still write the job's records
    {ns}:active, {ns}:stats:*          figures for /metrics (shared.engine.metrics)

Blobs:

    jobs/{job_id}/inputs/{image_id}     the uploaded original
    jobs/{job_id}/work/{image_id}/...   intermediates, deleted when the image finishes
    jobs/{job_id}/catalog/{slug}/...    the catalog: the same files and names as the CLI's
                                        output folder; manifest.json and index.html are
                                        written there when the job finishes
"""

from __future__ import annotations

import hashlib

from shared.infra.storage import check_key


def owner_of(api_key: str | None) -> str:
    """Who owns a job: a hash of the API key (the key itself is never stored), or "local"."""
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:24] if api_key else "local"


# --- blobs ------------------------------------------------------------------------------------


def job_prefix(job_id: str) -> str:
    return f"jobs/{job_id}"


def input_key(job_id: str, image_id: str) -> str:
    return f"jobs/{job_id}/inputs/{image_id}"


def work_prefix(job_id: str, image_id: str) -> str:
    return f"jobs/{job_id}/work/{image_id}"


def catalog_prefix(job_id: str) -> str:
    return f"jobs/{job_id}/catalog"


def catalog_key(job_id: str, path: str) -> str:
    """The blob key of a manifest path (`<slug>/top.jpg`, `manifest.json`). The path must be
    a clean relative path: BlobStore refuses '..' and absolute keys (ValueError)."""
    return f"{catalog_prefix(job_id)}/{check_key(path)}"


# --- Redis ------------------------------------------------------------------------------------


class RedisKeys:
    def __init__(self, ns: str):
        self.ns = ns

    def job(self, job_id: str) -> str:
        return f"{self.ns}:job:{job_id}"

    def image(self, job_id: str, image_id: str) -> str:
        return f"{self.ns}:job:{job_id}:image:{image_id}"

    def idempotency(self, owner: str, key: str) -> str:
        return f"{self.ns}:idem:{owner}:{hashlib.sha256(key.encode()).hexdigest()}"

    def owner(self, owner: str) -> str:
        return f"{self.ns}:owner:{owner}"

    def beat(self, job_id: str, image_id: str) -> str:
        """The heartbeat of a photo's running stage (expires when its worker goes quiet)."""
        return f"{self.ns}:beat:{job_id}:{image_id}"

    @property
    def uploads_pending(self) -> str:
        """Jobs being stored, by the last sign of life of the request storing them."""
        return f"{self.ns}:uploads:pending"

    def upload_marker(self, job_id: str) -> str:
        """Present while the request storing the job may still write its records."""
        return f"{self.ns}:uploads:job:{job_id}"

    @property
    def sweeper(self) -> str:
        """Held by the one sweeper at work."""
        return f"{self.ns}:sweeper"

    @property
    def active(self) -> str:
        return f"{self.ns}:active"

    @property
    def job_stats(self) -> str:
        return f"{self.ns}:stats:jobs"

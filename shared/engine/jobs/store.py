"""The job store: job records in Redis (shared.engine.jobs.keys), the job's files in the blob
store. It reads and deletes jobs; a job is made by shared.engine.jobs.create, and every
change of status goes through shared.engine.jobs.lifecycle."""

from __future__ import annotations

import json
import os

import redis

from shared.domain.records import ImageRecord, Options
from shared.engine.jobs import codec
from shared.engine.jobs.keys import RedisKeys, job_prefix
from shared.engine.jobs.records import Job, JobImage
from shared.infra.settings import settings
from shared.infra.storage import BlobStore, blob_store


class JobStore:
    """Job records (Redis) and job files (blob store)."""

    def __init__(self, client: redis.Redis, blobs: BlobStore, namespace: str = "catalog"):
        self.redis, self.blobs, self.ns = client, blobs, namespace
        self.keys = RedisKeys(namespace)

    @classmethod
    def from_url(cls, redis_url: str, blobs: BlobStore, namespace: str = "catalog") -> JobStore:
        return cls(redis.Redis.from_url(redis_url, decode_responses=True), blobs, namespace)

    def get_job(self, job_id: str, *, owner: str | None = None, states: bool = False) -> Job | None:
        """The job with its photos' progress; None when there is no such job, or when it
        belongs to another owner (when `owner` is given). `states=True` also loads each
        photo's PhotoState (larger)."""
        raw = self.redis.hgetall(self.keys.job(job_id))
        if not raw or (owner is not None and raw["owner"] != owner):
            return None
        fields = codec.LIGHT_FIELDS + (("state",) if states else ())
        pipe = self.redis.pipeline(transaction=False)
        for image_id in json.loads(raw["images"]):
            pipe.hmget(self.keys.image(job_id, image_id), fields)
        images = [codec.parse_image(dict(zip(fields, values))) for values in pipe.execute() if values[0] is not None]
        return codec.parse_job(raw, images)

    def options(self, job_id: str) -> Options | None:
        raw = self.redis.hget(self.keys.job(job_id), "options")
        return Options.model_validate_json(raw) if raw else None

    def records(self, job_id: str) -> list[ImageRecord]:
        """The manifest records of the job's photos that have ended, in upload order."""
        ids = self.redis.hget(self.keys.job(job_id), "images")
        pipe = self.redis.pipeline(transaction=False)
        for image_id in json.loads(ids or "[]"):
            pipe.hget(self.keys.image(job_id, image_id), "record")
        return [ImageRecord.model_validate_json(raw) for raw in pipe.execute() if raw]

    def get_image(self, job_id: str, image_id: str) -> JobImage | None:
        raw = self.redis.hgetall(self.keys.image(job_id, image_id))
        return codec.parse_image(raw) if raw else None

    def list_jobs(self, owner: str, limit: int = 100) -> list[str]:
        """The owner's job ids, newest first."""
        return self.redis.zrevrange(self.keys.owner(owner), 0, limit - 1)

    def delete_job(self, job_id: str) -> bool:
        """Remove the job's records and every file of it; False when there was no such job.
        Tasks still queued for it find no record and do nothing."""
        raw = self.redis.hgetall(self.keys.job(job_id))
        if not raw:
            return False
        pipe = self.redis.pipeline()
        pipe.delete(self.keys.job(job_id), *(self.keys.image(job_id, i) for i in json.loads(raw["images"])))
        if raw.get("idempotency_key"):
            pipe.delete(self.keys.idempotency(raw["owner"], raw["idempotency_key"]))
        pipe.zrem(self.keys.owner(raw["owner"]), job_id)
        pipe.srem(self.keys.active, job_id)
        pipe.execute()
        self.blobs.delete_prefix(job_prefix(job_id))
        return True


_stores: dict[tuple[int, str], JobStore] = {}


def job_store() -> JobStore:
    """The JobStore on CATALOG_REDIS_URL and the configured blob store, one per process."""
    key = (os.getpid(), settings().redis_url)
    if key not in _stores:
        _stores[key] = JobStore.from_url(settings().redis_url, blob_store())
    return _stores[key]

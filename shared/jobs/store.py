"""The job store: job records in Redis (shared.jobs.keys), the job's files in the blob
store. It creates, reads and deletes jobs; every change of status goes through
shared.jobs.lifecycle."""

from __future__ import annotations

import json
import os
import time
import uuid

import redis

from shared.jobs import lifecycle
from shared.jobs.keys import RedisKeys, input_key, job_prefix
from shared.jobs.records import Job, JobImage, Progress, StageRun, Upload, WebhookState
from shared.manifest import write_catalog
from shared.schemas import ImageRecord, Options, PhotoState, slugify
from shared.settings import settings
from shared.storage import BlobStore, blob_store

# What a listing or a progress poll needs of a photo: no state, no record.
_LIGHT_FIELDS = ("id", "source", "slug", "status", "stage", "error", "error_code", "stages", "updated")


class JobStore:
    """Job records (Redis) and job files (blob store)."""

    def __init__(self, client: redis.Redis, blobs: BlobStore, namespace: str = "catalog"):
        self.redis, self.blobs, self.ns = client, blobs, namespace
        self.keys = RedisKeys(namespace)

    @classmethod
    def from_url(cls, redis_url: str, blobs: BlobStore, namespace: str = "catalog") -> JobStore:
        return cls(redis.Redis.from_url(redis_url, decode_responses=True), blobs, namespace)

    # --- creating ---------------------------------------------------------------------------

    def create_job(
        self,
        owner: str,
        uploads: list[Upload],
        options: Options | None = None,
        *,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
    ) -> tuple[Job, bool]:
        """Store the originals and the records of a new job; returns (job, True). With an
        idempotency key this owner already used, returns (that job, False) and stores
        nothing. The photos are not sent to the workers: see shared.dispatch.submit_images."""
        if not uploads:
            raise ValueError("a job needs at least one image")
        options = options or Options()
        job_id = uuid.uuid4().hex
        idem = self.keys.idempotency(owner, idempotency_key) if idempotency_key else None
        if idem and not self.redis.set(idem, job_id, nx=True):
            return self._wait_for(self.redis.get(idem), owner), False
        try:
            ended = self._store_new_job(job_id, owner, uploads, options, idempotency_key, webhook_url)
        except BaseException:
            if idem:  # let a retry of the request create the job
                self.redis.delete(idem)
            raise
        if ended:
            write_catalog(self, job_id)
        job = self.get_job(job_id)
        assert job is not None
        return job, True

    def _store_new_job(
        self,
        job_id: str,
        owner: str,
        uploads: list[Upload],
        options: Options,
        idempotency_key: str | None,
        webhook_url: str | None,
    ) -> bool:
        created, taken, images = lifecycle.now(), set[str](), []
        for n, upload in enumerate(uploads):
            image_id = str(n)
            slug = slugify(upload.name, taken)
            image = JobImage(
                id=image_id,
                source=upload.name,
                slug=slug,
                updated=created,
                state=PhotoState(source=upload.name, slug=slug),
            )
            if upload.error:
                image.status, image.stage, image.error, image.error_code = (
                    "failed",
                    None,
                    upload.error,
                    upload.error_code,
                )
            else:
                self.blobs.put(input_key(job_id, image_id), upload.data or b"")
            images.append(image)
        fields: dict[str, str | int] = {
            "id": job_id,
            "owner": owner,
            "options": options.model_dump_json(),
            "created": created,
            "updated": created,
            "images": json.dumps([i.id for i in images]),
            "idempotency_key": idempotency_key or "",
            "webhook_url": webhook_url or "",
        }
        pipe = self.redis.pipeline()
        ended = lifecycle.open_job(pipe, self, job_id, images, fields, created)
        pipe.zadd(self.keys.owner(owner), {job_id: time.time()})
        pipe.execute()
        return ended

    def _wait_for(self, job_id: str | None, owner: str, timeout: float = 10.0) -> Job:
        """The job another request is creating under the same idempotency key."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id, owner=owner) if job_id else None
            if job is not None or time.monotonic() > deadline:
                if job is None:
                    raise RuntimeError(f"idempotency key names job {job_id}, which does not exist")
                return job
            time.sleep(0.05)

    # --- reading ----------------------------------------------------------------------------

    def get_job(self, job_id: str, *, owner: str | None = None, states: bool = False) -> Job | None:
        """The job with its photos' progress; None when there is no such job, or when it
        belongs to another owner (when `owner` is given). `states=True` also loads each
        photo's PhotoState (larger)."""
        raw = self.redis.hgetall(self.keys.job(job_id))
        if not raw or (owner is not None and raw["owner"] != owner):
            return None
        fields = _LIGHT_FIELDS + (("state",) if states else ())
        pipe = self.redis.pipeline(transaction=False)
        for image_id in json.loads(raw["images"]):
            pipe.hmget(self.keys.image(job_id, image_id), fields)
        images = [self.parse_image(dict(zip(fields, values))) for values in pipe.execute() if values[0] is not None]
        return Job(
            id=raw["id"],
            owner=raw["owner"],
            status=raw["status"],
            options=Options.model_validate_json(raw["options"]),
            created=raw["created"],
            updated=raw["updated"],
            finished=raw.get("finished") or None,
            idempotency_key=raw.get("idempotency_key") or None,
            webhook_url=raw.get("webhook_url") or None,
            webhook=WebhookState(
                url=raw["webhook_url"],
                status=raw.get("webhook_status") or "pending",
                attempts=int(raw.get("webhook_attempts") or 0),
                error=raw.get("webhook_error") or None,
            )
            if raw.get("webhook_url")
            else None,
            progress=Progress(done=int(raw["done"]), total=int(raw["total"]), failed=int(raw["failed"])),
            images=images,
        )

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
        return self.parse_image(raw) if raw else None

    def list_jobs(self, owner: str, limit: int = 100) -> list[str]:
        """The owner's job ids, newest first."""
        return self.redis.zrevrange(self.keys.owner(owner), 0, limit - 1)

    # --- deleting ---------------------------------------------------------------------------

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

    # --- encoding ---------------------------------------------------------------------------

    @staticmethod
    def image_fields(image: JobImage) -> dict[str, str]:
        record = image.record()
        return {
            "id": image.id,
            "source": image.source,
            "slug": image.slug,
            "status": image.status,
            "stage": image.stage or "",
            "error": image.error or "",
            "error_code": image.error_code or "",
            "stages": lifecycle.dump_stages(image.stages),
            "updated": image.updated,
            "state": image.state.model_dump_json() if image.state else "",
            "record": record.model_dump_json() if record else "",
        }

    @staticmethod
    def parse_image(raw: dict) -> JobImage:
        state = raw.get("state")
        return JobImage(
            id=raw["id"],
            source=raw["source"],
            slug=raw["slug"],
            status=raw["status"],
            stage=raw.get("stage") or None,
            error=raw.get("error") or None,
            error_code=raw.get("error_code") or None,
            stages={k: StageRun(**v) for k, v in json.loads(raw.get("stages") or "{}").items()},
            updated=raw["updated"],
            state=PhotoState.model_validate_json(state) if state else None,
        )


_stores: dict[tuple[int, str], JobStore] = {}


def job_store() -> JobStore:
    """The JobStore on CATALOG_REDIS_URL and the configured blob store, one per process."""
    key = (os.getpid(), settings().redis_url)
    if key not in _stores:
        _stores[key] = JobStore.from_url(settings().redis_url, blob_store())
    return _stores[key]

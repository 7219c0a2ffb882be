"""Job records in Redis, and the job's files in the blob store.

A job is a batch of images with one set of Options; each image moves through its stages
on its own (shared.worker) and fails alone. Everything is JSON in Redis hashes:

    {ns}:job:{job_id}                  id, owner, options, created, updated, finished,
                                       total, done, failed, images (ids in upload order),
                                       idempotency_key, webhook_url, webhook_status,
                                       webhook_attempts, webhook_error
    {ns}:job:{job_id}:image:{image_id} id, source, slug, status, stage, error, error_code,
                                       stages (per-stage runs), state (PhotoState), updated
    {ns}:idem:{owner}:{sha256(key)}    the job id an idempotency key was first used for
    {ns}:owner:{owner}                 sorted set of the owner's job ids, by creation time
    {ns}:active, {ns}:stats:*          figures for /metrics (shared.metrics)

Counters move with HINCRBY, and the end of an image is one Lua script (status, counters
and the job's `finished` together), so workers finishing images of the same job at the
same moment cannot lose a count, and exactly one of them sees the job finish. A stage is
claimed with WATCH/MULTI, so a redelivered or duplicated task runs a stage at most once
per claim and never after the image has finished.

Blob keys of a job (job_keys below):

    jobs/{job_id}/inputs/{image_id}     the uploaded original
    jobs/{job_id}/work/{image_id}/...   intermediates, deleted when the image finishes
    jobs/{job_id}/catalog/{slug}/...    the catalog: the same files and names as the CLI's
                                        output folder; manifest.json and index.html are
                                        written there when the job finishes
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import redis
from pydantic import BaseModel, Field, computed_field

from shared.schemas import ImageRecord, Manifest, Options, PhotoState, Stage, slugify
from shared.settings import settings
from shared.storage import BlobStore, blob_store, check_key

ImageStatus = Literal["queued", "running", "ok", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
# A stage that keeps being delivered (retries of transient faults, workers lost while
# running it) fails its image after this many starts, so a poison image cannot loop.
MAX_STAGE_ATTEMPTS = 8


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def owner_of(api_key: str | None) -> str:
    """Who owns a job: a hash of the API key (the key itself is never stored), or "local"."""
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:24] if api_key else "local"


# --- blob keys ------------------------------------------------------------------------------


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


# --- records ----------------------------------------------------------------------------------


class StageRun(BaseModel):
    """One stage of one image: its last run."""

    status: Literal["running", "done", "failed"]
    attempts: int = 0  # starts, counting retries and redeliveries
    started: str | None = None
    finished: str | None = None
    ms: float | None = None  # the task's wall time: load, step, save
    worker: str | None = None  # Celery node name, e.g. "segment@host"
    pid: int | None = None  # the process that ran it
    models: list[str] = Field(default_factory=list)  # models loaded in that process afterwards


class JobImage(BaseModel):
    id: str
    source: str  # the uploaded file's name
    slug: str  # its folder in the catalog
    status: ImageStatus = "queued"
    stage: Stage | None = "detect"  # the stage running or next to run; None once finished
    error: str | None = None  # why it failed, worded for the user
    error_code: str | None = None  # ImageError.code, "timeout" or "internal"
    stages: dict[str, StageRun] = Field(default_factory=dict)
    updated: str
    state: PhotoState | None = Field(default=None, exclude=True)  # loaded on request only

    def record(self) -> ImageRecord | None:
        """The manifest record once the image has finished; None before."""
        if self.status == "ok" and self.state is not None:
            return self.state.to_record(source=self.source)
        if self.status == "failed":
            st = self.state
            return ImageRecord(source=self.source, status="failed", error=self.error,
                               width=st.width if st else None, height=st.height if st else None)
        return None


class Progress(BaseModel):
    done: int
    total: int
    failed: int


class WebhookState(BaseModel):
    url: str
    status: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    error: str | None = None


class Job(BaseModel):
    id: str
    owner: str
    options: Options
    created: str
    updated: str
    finished: str | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    webhook: WebhookState | None = None
    progress: Progress
    images: list[JobImage]

    @computed_field
    @property
    def status(self) -> JobStatus:
        p = self.progress
        if p.done >= p.total:
            return "failed" if p.failed == p.total else "partial" if p.failed else "succeeded"
        # Queued until a worker starts on an image (files refused at upload are no start).
        started = any(i.status in ("running", "ok") or i.stages for i in self.images)
        return "running" if started else "queued"


@dataclass
class Upload:
    """One file of a new job. A file the gateway already refused (error set) is recorded as
    failed at once, with its reason, and not stored."""

    name: str
    data: bytes | None = None
    error: str | None = None
    error_code: str | None = None


@dataclass
class Claim:
    """What a task should do with its stage: "run" it, "skip" (the image finished, was
    deleted, or is past this stage), "resend" the next stage's task (this one was
    redelivered after its result was saved), or "give_up" (too many attempts)."""

    action: Literal["run", "skip", "resend", "give_up"]
    image: JobImage | None = None


# The end of an image: its status and the job's counters in one step. Returns 1 when this
# image was the job's last, 0 when not, -1 when the image had already ended or is gone.
# ARGV: status, timestamp, then the image's fields and values.
_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local prev = redis.call('HGET', KEYS[1], 'status')
if prev == 'ok' or prev == 'failed' then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
local done = redis.call('HINCRBY', KEYS[2], 'done', 1)
if ARGV[1] == 'failed' then redis.call('HINCRBY', KEYS[2], 'failed', 1) end
redis.call('HSET', KEYS[2], 'updated', ARGV[2])
if done >= tonumber(redis.call('HGET', KEYS[2], 'total')) then
  redis.call('HSET', KEYS[2], 'finished', ARGV[2])
  return 1
end
return 0
"""

_LIGHT_FIELDS = ("id", "source", "slug", "status", "stage", "error", "error_code", "stages", "updated")


class JobStore:
    """Job records (Redis) and job files (blob store)."""

    def __init__(self, client: redis.Redis, blobs: BlobStore, namespace: str = "catalog"):
        self.redis, self.blobs, self.ns = client, blobs, namespace
        self._finish = client.register_script(_FINISH)

    @classmethod
    def from_url(cls, redis_url: str, blobs: BlobStore, namespace: str = "catalog") -> JobStore:
        return cls(redis.Redis.from_url(redis_url, decode_responses=True), blobs, namespace)

    def _job(self, job_id: str) -> str:
        return f"{self.ns}:job:{job_id}"

    def _image(self, job_id: str, image_id: str) -> str:
        return f"{self.ns}:job:{job_id}:image:{image_id}"

    # --- creating, reading, deleting ----------------------------------------------------------

    def create_job(
        self, owner: str, uploads: list[Upload], options: Options | None = None, *,
        idempotency_key: str | None = None, webhook_url: str | None = None,
    ) -> tuple[Job, bool]:
        """Store the originals and the records of a new job; returns (job, True). With an
        idempotency key this owner already used, returns (that job, False) and stores
        nothing. The images are not sent to the workers: see shared.dispatch.submit_images."""
        if not uploads:
            raise ValueError("a job needs at least one image")
        options = options or Options()
        job_id = uuid.uuid4().hex
        if idempotency_key:
            idem = f"{self.ns}:idem:{owner}:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"
            if not self.redis.set(idem, job_id, nx=True):
                return self._wait_for(self.redis.get(idem), owner), False
        try:
            self._store_new_job(job_id, owner, uploads, options, idempotency_key, webhook_url)
        except BaseException:
            if idempotency_key:  # let a retry of the request create the job
                self.redis.delete(idem)
            raise
        return self.get_job(job_id), True

    def _store_new_job(self, job_id: str, owner: str, uploads: list[Upload], options: Options,
                       idempotency_key: str | None, webhook_url: str | None) -> None:
        created, taken, images = now(), set(), {}
        for n, upload in enumerate(uploads):
            image_id = str(n)
            slug = slugify(upload.name, taken)
            image = JobImage(id=image_id, source=upload.name, slug=slug, updated=created,
                             state=PhotoState(source=upload.name, slug=slug))
            if upload.error:
                image.status, image.stage, image.error, image.error_code = "failed", None, upload.error, upload.error_code
            else:
                self.blobs.put(input_key(job_id, image_id), upload.data or b"")
            images[image_id] = image
        failed = sum(i.status == "failed" for i in images.values())
        fields = {
            "id": job_id, "owner": owner, "options": options.model_dump_json(), "created": created,
            "updated": created, "total": len(images), "done": failed, "failed": failed,
            "images": json.dumps(list(images)), "idempotency_key": idempotency_key or "", "webhook_url": webhook_url or "",
        }
        if failed == len(images):
            fields["finished"] = created
        pipe = self.redis.pipeline()
        for image in images.values():
            pipe.hset(self._image(job_id, image.id), mapping=self._image_fields(image))
        pipe.hset(self._job(job_id), mapping=fields)  # last: a job is visible once complete
        pipe.zadd(f"{self.ns}:owner:{owner}", {job_id: time.time()})
        pipe.hincrby(f"{self.ns}:stats:jobs", "created", 1)
        pipe.sadd(f"{self.ns}:active", job_id)
        pipe.execute()
        if failed == len(images):
            self.job_ended(job_id)

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

    def get_job(self, job_id: str, *, owner: str | None = None, states: bool = False) -> Job | None:
        """The job with its images' progress; None when there is no such job, or when it
        belongs to another owner (when `owner` is given). `states=True` also loads each
        image's PhotoState (needed for the manifest; larger)."""
        raw = self.redis.hgetall(self._job(job_id))
        if not raw or (owner is not None and raw["owner"] != owner):
            return None
        ids = json.loads(raw["images"])
        fields = _LIGHT_FIELDS + (("state",) if states else ())
        pipe = self.redis.pipeline(transaction=False)
        for image_id in ids:
            pipe.hmget(self._image(job_id, image_id), fields)
        images = [self._parse_image(dict(zip(fields, values))) for values in pipe.execute() if values[0] is not None]
        return Job(
            id=raw["id"], owner=raw["owner"], options=Options.model_validate_json(raw["options"]),
            created=raw["created"], updated=raw["updated"], finished=raw.get("finished") or None,
            idempotency_key=raw.get("idempotency_key") or None, webhook_url=raw.get("webhook_url") or None,
            webhook=WebhookState(
                url=raw["webhook_url"], status=raw.get("webhook_status") or "pending",
                attempts=int(raw.get("webhook_attempts") or 0), error=raw.get("webhook_error") or None,
            ) if raw.get("webhook_url") else None,
            progress=Progress(done=int(raw["done"]), total=int(raw["total"]), failed=int(raw["failed"])),
            images=images,
        )

    def options(self, job_id: str) -> Options | None:
        raw = self.redis.hget(self._job(job_id), "options")
        return Options.model_validate_json(raw) if raw else None

    def get_image(self, job_id: str, image_id: str) -> JobImage | None:
        raw = self.redis.hgetall(self._image(job_id, image_id))
        return self._parse_image(raw) if raw else None

    def list_jobs(self, owner: str, limit: int = 100) -> list[str]:
        """The owner's job ids, newest first."""
        return self.redis.zrevrange(f"{self.ns}:owner:{owner}", 0, limit - 1)

    def delete_job(self, job_id: str) -> bool:
        """Remove the job's records and every file of it; False when there was no such job.
        Tasks still queued for it find no record and do nothing."""
        raw = self.redis.hgetall(self._job(job_id))
        if not raw:
            return False
        pipe = self.redis.pipeline()
        pipe.delete(self._job(job_id), *(self._image(job_id, i) for i in json.loads(raw["images"])))
        if raw.get("idempotency_key"):
            digest = hashlib.sha256(raw["idempotency_key"].encode()).hexdigest()
            pipe.delete(f"{self.ns}:idem:{raw['owner']}:{digest}")
        pipe.zrem(f"{self.ns}:owner:{raw['owner']}", job_id)
        pipe.srem(f"{self.ns}:active", job_id)
        pipe.execute()
        self.blobs.delete_prefix(f"jobs/{job_id}")
        return True

    # --- the manifest --------------------------------------------------------------------------

    def manifest(self, job: Job | str) -> Manifest:
        """The job's manifest in the CLI's schema, with the images that have finished, in
        upload order. File paths are relative to the catalog root: catalog_key(job_id, path)
        is the blob key (the gateway turns it into a URL)."""
        if isinstance(job, str) or any(i.state is None for i in job.images):
            job = self.get_job(job if isinstance(job, str) else job.id, states=True)
        records = [r for r in (i.record() for i in job.images) if r is not None]
        return Manifest(created=job.created, options=job.options, images=records)

    def job_ended(self, job_id: str) -> Job:
        """Once per job, when its last image has ended: the catalog's manifest and gallery
        are written and the job is counted by its final status."""
        self.write_catalog(job_id)
        job = self.get_job(job_id)
        pipe = self.redis.pipeline()
        pipe.srem(f"{self.ns}:active", job_id)
        pipe.hincrby(f"{self.ns}:stats:jobs", f"finished:{job.status}", 1)
        pipe.execute()
        return job

    def set_webhook(self, job_id: str, status: str, attempts: int, error: str | None = None) -> None:
        """Record how delivery of the job's webhook call stands (nothing if the job is gone)."""
        self.redis.eval(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) end", 1,
            self._job(job_id), "webhook_status", status, "webhook_attempts", attempts, "webhook_error", error or "")

    def write_catalog(self, job_id: str) -> Manifest:
        """manifest.json and index.html into the job's catalog folder: with them it is the
        same folder the CLI writes (an archive of it is the whole catalog)."""
        from shared.gallery import render_gallery

        manifest = self.manifest(job_id)
        self.blobs.put(catalog_key(job_id, "manifest.json"), manifest.model_dump_json(indent=2).encode())
        self.blobs.put(catalog_key(job_id, "index.html"), render_gallery(manifest).encode())
        return manifest

    # --- what the workers call ---------------------------------------------------------------

    def claim_stage(self, job_id: str, image_id: str, stage: Stage, *, worker: str, pid: int) -> Claim:
        """Mark a stage running, if the image is at that stage (see Claim)."""
        key = self._image(job_id, image_id)

        def claim(pipe) -> Claim:
            raw = pipe.hgetall(key)
            if not raw:
                return Claim("skip")
            image = self._parse_image(raw)
            if image.status in ("ok", "failed"):
                return Claim("skip", image)
            if image.stage != stage:
                try:
                    follows = image.state.next_stage(stage) if stage in image.state.done else None
                except ValueError:
                    follows = None
                started = image.stage in image.stages
                return Claim("resend" if image.stage == follows and not started else "skip", image)
            run = image.stages.get(stage) or StageRun(status="running")
            run = run.model_copy(update={
                "status": "running", "attempts": run.attempts + 1, "started": now(), "finished": None,
                "worker": worker, "pid": pid,
            })
            image.stages[stage], image.status = run, "running"
            if run.attempts > MAX_STAGE_ATTEMPTS:
                return Claim("give_up", image)
            pipe.multi()
            pipe.hset(key, mapping={"status": "running", "stages": _dump_stages(image.stages), "updated": run.started})
            pipe.hset(self._job(job_id), "updated", run.started)
            return Claim("run", image)

        return self.redis.transaction(claim, key, value_from_callable=True)

    def save_stage(self, job_id: str, image_id: str, stage: Stage, image: JobImage, next_stage: Stage,
                   *, ms: float, models: list[str]) -> bool:
        """Store the state a stage left and the stage to run next; False when the image has
        ended or is gone meanwhile (nothing is written then)."""
        key = self._image(job_id, image_id)
        image.stages[stage] = image.stages[stage].model_copy(
            update={"status": "done", "finished": now(), "ms": round(ms, 1), "models": models})

        def save(pipe) -> bool:
            if pipe.hget(key, "status") not in ("queued", "running"):
                return False
            pipe.multi()
            pipe.hset(key, mapping={"state": image.state.model_dump_json(), "stage": next_stage,
                                    "stages": _dump_stages(image.stages), "updated": now()})
            return True

        return self.redis.transaction(save, key, value_from_callable=True)

    def finish_image(self, job_id: str, image_id: str, image: JobImage, *, stage: Stage | None = None,
                     error: str | None = None, error_code: str | None = None, ms: float | None = None,
                     models: list[str] | None = None) -> bool:
        """End an image: ok (no error) with the state its last stage left, or failed with
        the error. Returns True when this was the last image of the job (exactly one caller
        sees that); False otherwise, also when the image had already ended."""
        status = "failed" if error else "ok"
        if stage and stage in image.stages:
            image.stages[stage] = image.stages[stage].model_copy(update={
                "status": "failed" if error else "done", "finished": now(),
                "ms": round(ms, 1) if ms is not None else None, "models": models or []})
        stamp = now()
        fields = {"status": status, "updated": stamp, "stage": "", "error": error or "",
                  "error_code": error_code or "", "stages": _dump_stages(image.stages)}
        if image.state is not None:
            fields["state"] = image.state.model_dump_json()
        args = [status, stamp] + [v for pair in fields.items() for v in pair]
        return self._finish(keys=[self._image(job_id, image_id), self._job(job_id)], args=args) == 1

    # --- encoding ------------------------------------------------------------------------------

    @staticmethod
    def _image_fields(image: JobImage) -> dict[str, str]:
        return {
            "id": image.id, "source": image.source, "slug": image.slug, "status": image.status,
            "stage": image.stage or "", "error": image.error or "", "error_code": image.error_code or "",
            "stages": _dump_stages(image.stages), "updated": image.updated,
            "state": image.state.model_dump_json() if image.state else "",
        }

    @staticmethod
    def _parse_image(raw: dict) -> JobImage:
        state = raw.get("state")
        return JobImage(
            id=raw["id"], source=raw["source"], slug=raw["slug"], status=raw["status"],
            stage=raw.get("stage") or None, error=raw.get("error") or None, error_code=raw.get("error_code") or None,
            stages={k: StageRun(**v) for k, v in json.loads(raw.get("stages") or "{}").items()},
            updated=raw["updated"], state=PhotoState.model_validate_json(state) if state else None,
        )


def _dump_stages(stages: dict[str, StageRun]) -> str:
    return json.dumps({k: v.model_dump() for k, v in stages.items()})


_stores: dict[tuple[int, str], JobStore] = {}


def job_store() -> JobStore:
    """The JobStore on CATALOG_REDIS_URL and the configured blob store, one per process."""
    key = (os.getpid(), settings().redis_url)
    if key not in _stores:
        _stores[key] = JobStore.from_url(settings().redis_url, blob_store())
    return _stores[key]

"""The job store: job records in Redis (shared.jobs.keys), the job's files in the blob
store. It creates, reads and deletes jobs; every change of status goes through
shared.jobs.lifecycle."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

import redis

from shared.jobs import lifecycle
from shared.jobs.keys import RedisKeys, input_key, job_prefix
from shared.jobs.records import Job, JobImage, Progress, StageRun, Upload, WebhookState
from shared.manifest import write_catalog
from shared.schemas import ImageRecord, Options, PhotoState, slugify
from shared.settings import settings
from shared.storage import BlobStore, blob_store

log = logging.getLogger(__name__)

# What a listing or a progress poll needs of a photo: no state, no record.
_LIGHT_FIELDS = ("id", "source", "slug", "status", "stage", "error", "error_code", "stages", "updated")

# A job being stored (its originals going to the blob store, its records not yet written):
#   {ns}:uploads:pending        sorted set: job id -> the last sign of life of the request
#                               storing it (unix time), for sweep_abandoned_uploads
#   {ns}:uploads:job:{job_id}   present while that request may still write the job's records;
#                               its commit watches it, the sweeper deletes it to claim the job
# An idempotency key holds "<job id>:<request fingerprint>"; while the job is being stored it
# expires (CATALOG_IDEMPOTENCY_PENDING_S) unless that request keeps it alive, and it is made
# lasting in the very transaction that writes the job's records: it names a job that exists,
# or it goes away.
_UPLOAD_MARKER_S = 24 * 3600  # a backstop: the sweeper deletes the marker long before
# Renewed only while it is this request's and still pending (expiring): a key its commit has
# made lasting stays lasting.
_PEXPIRE_IF_PENDING = (
    "if redis.call('get', KEYS[1]) == ARGV[1] and redis.call('pttl', KEYS[1]) > 0 then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_DELETE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class IdempotencyConflict(Exception):
    """The Idempotency-Key was first used for a different request (options, webhook or files)."""


class IdempotencyPending(Exception):
    """The request that first used the Idempotency-Key is still storing its job."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class _KeyTaken(Exception):
    """The idempotency key expired while this request stored its job, and another took it."""


@dataclass
class StreamedUpload(Upload):
    """An accepted file still in a binary file (the request's spool): stored by copying it in
    chunks (BlobStore.put_stream), never held whole in memory."""

    stream: IO[bytes] | None = None


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
        fingerprint: str | None = None,
    ) -> tuple[Job, bool]:
        """Store the originals and the records of a new job; returns (job, True). With an
        idempotency key this owner already used, returns (that job, False) and stores
        nothing: after waiting (up to CATALOG_IDEMPOTENCY_PENDING_S) for a job another
        request is still storing under it; a key that expired or names no job is taken anew.
        `fingerprint` identifies the request (shared.jobs.store.request_fingerprint): the same
        key with another fingerprint raises IdempotencyConflict; a job still being stored past
        the wait raises IdempotencyPending. If storing fails, the job's files are deleted and
        the key let go. The photos are not sent to the workers: see shared.dispatch.submit_images."""
        if not uploads:
            raise ValueError("a job needs at least one image")
        options = options or Options()
        idem = self.keys.idempotency(owner, idempotency_key) if idempotency_key else None
        pending_ms = max(1, int(settings().idempotency_pending_s * 1000))
        deadline = time.monotonic() + pending_ms / 1000 + 5
        while True:
            job_id = uuid.uuid4().hex
            claim = f"{job_id}:{fingerprint or ''}"
            if idem and not self.redis.set(idem, claim, nx=True, px=pending_ms):
                existing = self._wait_for(idem, owner, fingerprint, deadline)
                if existing is not None:
                    return existing, False
                continue  # the key expired, or named no job: take it anew
            try:
                ended = self._store_new_job(
                    job_id, owner, uploads, options, idempotency_key, webhook_url, idem=idem, claim=claim
                )
            except _KeyTaken:
                self._abandon(job_id, idem, claim)
                continue  # the other request's job is the key's: wait for it
            except BaseException:
                self._abandon(job_id, idem, claim)
                raise
            break
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
        *,
        idem: str | None = None,
        claim: str = "",
    ) -> bool:
        """The originals under the job's prefix, then its records in one transaction that
        also makes the idempotency key lasting. Before any file is stored the job is listed
        as pending, so the files of a request that dies half-way are found and deleted by
        sweep_abandoned_uploads."""
        marker = self.keys.upload_marker(job_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(marker, claim or "1", ex=_UPLOAD_MARKER_S)
        pipe.zadd(self.keys.uploads_pending, {job_id: time.time()})
        pipe.execute()
        created, taken, images = lifecycle.now(), set[str](), []
        with self._keep_alive(job_id, idem, claim):
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
                elif isinstance(upload, StreamedUpload) and upload.stream is not None:
                    self.blobs.put_stream(input_key(job_id, image_id), upload.stream)
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
        watched = (marker, idem) if idem else (marker,)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*watched)
                    mine, held = pipe.mget(marker, idem or marker)
                    if mine is None:
                        raise RuntimeError(f"job {job_id} was given up as abandoned while it was being stored")
                    if idem and held not in (None, claim):
                        raise _KeyTaken()
                    pipe.multi()
                    ended = lifecycle.open_job(pipe, self, job_id, images, fields, created)
                    pipe.zadd(self.keys.owner(owner), {job_id: time.time()})
                    if idem:
                        pipe.set(idem, claim)  # no expiry from now on: it names a job that exists
                    pipe.delete(marker)
                    pipe.zrem(self.keys.uploads_pending, job_id)
                    pipe.execute()
                    return ended
                except redis.WatchError:
                    continue

    def _wait_for(self, idem: str, owner: str, fingerprint: str | None, deadline: float) -> Job | None:
        """The job of an idempotency key another request made, once it exists; None when the
        key expired or names no job (the caller takes the key anew). IdempotencyConflict when
        that request was another one; IdempotencyPending when its job is still being stored
        at the deadline."""
        while True:
            held = self.redis.get(idem)
            if held is None:
                return None
            job_id, _, first = held.partition(":")  # no fingerprint: a key older than them
            if fingerprint and first and first != fingerprint:
                raise IdempotencyConflict(
                    "this Idempotency-Key was already used for a different request (other files, options "
                    "or webhook_url); use a new key for a new job"
                )
            job = self.get_job(job_id, owner=owner)
            if job is not None:
                return job
            ttl_ms = self.redis.pttl(idem)
            if ttl_ms == -1:
                # Lasting: its request committed the job since the look above (the key is made
                # lasting with the job's records), or older code wrote it before the job
                # record and its request died: then it names no job, and is let go.
                job = self.get_job(job_id, owner=owner)
                if job is not None:
                    return job
                self.redis.eval(_DELETE_IF, 1, idem, held)
                return None
            if time.monotonic() > deadline:
                raise IdempotencyPending(
                    "a request with this Idempotency-Key is still storing its job; try again shortly",
                    retry_after_s=max(1, round(ttl_ms / 1000)) if ttl_ms > 0 else 1,
                )
            time.sleep(0.05)

    @contextmanager
    def _keep_alive(self, job_id: str, idem: str | None, claim: str) -> Iterator[None]:
        """While the originals are stored: the idempotency key kept from expiring and the
        job's sign of life in the pending set renewed, by this process's keeper thread (one
        file may take a while), so both lapse only when this process stops."""
        token = _keeper.add(self, job_id, idem, claim)
        try:
            yield
        finally:
            _keeper.discard(token)

    def _beat(self, job_id: str, idem: str | None, claim: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.uploads_pending, {job_id: time.time()}, xx=True)
        if idem:
            pipe.eval(_PEXPIRE_IF_PENDING, 1, idem, claim, max(1, int(settings().idempotency_pending_s * 1000)))
        pipe.execute()

    def _abandon(self, job_id: str, idem: str | None, claim: str) -> None:
        """A job whose storing failed: its files deleted, its key let go (when still its own),
        its pending entry removed. What cannot be done now (the store or Redis down) is left
        to sweep_abandoned_uploads."""
        try:
            self.blobs.delete_prefix(job_prefix(job_id))
            deleted = True
        except Exception:
            log.warning("job %s: its files could not be deleted now; the sweeper will", job_id, exc_info=True)
            deleted = False
        try:
            pipe = self.redis.pipeline(transaction=False)
            if idem:
                pipe.eval(_DELETE_IF, 1, idem, claim)
            if deleted:
                pipe.delete(self.keys.upload_marker(job_id))
                pipe.zrem(self.keys.uploads_pending, job_id)
            pipe.execute()
        except redis.RedisError:
            log.warning("job %s: Redis is out of reach; its key expires by itself", job_id)

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


def request_fingerprint(options: Options, webhook_url: str | None, files: list[tuple[str, int, str]]) -> str:
    """What makes two requests the same job: the options (as parsed, so a default sent or
    left out is the same), the webhook and each file's name, size and sha256 in order."""
    body = {"options": options.model_dump(mode="json"), "webhook_url": webhook_url or "", "files": files}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sweep_abandoned_uploads(store: JobStore, older_than_s: float) -> list[str]:
    """Delete the files of jobs whose storing request died half-way (a gateway killed during
    an upload runs no cleanup): those in the pending set with no sign of life for
    older_than_s (keep it well above CATALOG_IDEMPOTENCY_PENDING_S / 6, the beat) and no job
    record. Returns their ids. A request that is only slow, not dead, finds its job claimed
    here at its commit and fails rather than write a job whose files are gone."""
    pending = store.keys.uploads_pending
    swept = []
    for job_id in store.redis.zrangebyscore(pending, "-inf", time.time() - older_than_s):
        store.redis.delete(store.keys.upload_marker(job_id))  # claimed: its commit can no longer succeed
        if not store.redis.exists(store.keys.job(job_id)):
            store.blobs.delete_prefix(job_prefix(job_id))
            swept.append(job_id)
            log.info("job %s: deleted the files of an upload abandoned half-way", job_id)
        store.redis.zrem(pending, job_id)
    return swept


class _Keeper:
    """One thread per process beating for every job this process is storing (a thread per
    job would cost each POST its start and join)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, tuple[JobStore, str, str | None, str]] = {}
        self.tokens = itertools.count()
        self.pid = 0  # the process the thread runs in: a forked child starts its own

    def add(self, store: JobStore, job_id: str, idem: str | None, claim: str) -> int:
        with self.lock:
            token = next(self.tokens)
            self.live[token] = (store, job_id, idem, claim)
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self.run, name="upload-keeper", daemon=True).start()
        return token

    def discard(self, token: int) -> None:
        with self.lock:
            self.live.pop(token, None)

    def run(self) -> None:
        while True:
            time.sleep(max(0.1, settings().idempotency_pending_s / 6))
            with self.lock:
                live = list(self.live.values())
            for store, job_id, idem, claim in live:
                try:
                    store._beat(job_id, idem, claim)
                except redis.RedisError:
                    pass  # the commit finds out


_keeper = _Keeper()
_stores: dict[tuple[int, str], JobStore] = {}


def job_store() -> JobStore:
    """The JobStore on CATALOG_REDIS_URL and the configured blob store, one per process."""
    key = (os.getpid(), settings().redis_url)
    if key not in _stores:
        _stores[key] = JobStore.from_url(settings().redis_url, blob_store())
    return _stores[key]

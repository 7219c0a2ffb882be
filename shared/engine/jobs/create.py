"""Making a job: its originals into the blob store, then its records, with the idempotency
protocol that makes a retried request find the job its first try made.

A job being stored (its originals going to the blob store, its records not yet written):
  {ns}:uploads:pending        sorted set: job id -> the last sign of life of the request
                              storing it (unix time), for shared.engine.jobs.abandoned
  {ns}:uploads:job:{job_id}   present while that request may still write the job's records;
                              its commit watches it, the sweeper deletes it to claim the job
An idempotency key holds "<job id>:<request fingerprint>"; while the job is being stored it
expires (CATALOG_IDEMPOTENCY_PENDING_S) unless that request keeps it alive, and it is made
lasting in the very transaction that writes the job's records: it names a job that exists,
or it goes away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

import redis

from shared.domain.listing import Listing
from shared.domain.records import Options, slugify
from shared.engine.jobs import lifecycle
from shared.engine.jobs.keeper import kept_alive
from shared.engine.jobs.keys import input_key, job_prefix
from shared.engine.jobs.records import Job, JobImage, Upload
from shared.engine.jobs.store import JobStore
from shared.engine.manifest import write_catalog
from shared.engine.photo_state import PhotoState
from shared.infra.settings import settings

log = logging.getLogger(__name__)

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


def request_fingerprint(
    options: Options,
    webhook_url: str | None,
    files: list[tuple[str, int, str]],
    listings: Mapping[str, Listing] | None = None,
) -> str:
    """What makes two requests the same job: the options (as parsed, so a default sent or
    left out is the same), the webhook, each file's name, size and sha256 in order, and the
    listings where sent."""
    body = {"options": options.model_dump(mode="json"), "webhook_url": webhook_url or "", "files": files}
    if listings:
        body["listings"] = {name: listing.model_dump(mode="json") for name, listing in listings.items()}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _pending_ms() -> int:
    return max(1, int(settings().idempotency_pending_s * 1000))


def create_job(
    store: JobStore,
    owner: str,
    uploads: list[Upload],
    options: Options | None = None,
    *,
    idempotency_key: str | None = None,
    webhook_url: str | None = None,
    fingerprint: str | None = None,
    listings: Mapping[str, Listing] | None = None,
) -> tuple[Job, bool]:
    """Store the originals and the records of a new job; returns (job, True). With an
    idempotency key this owner already used, returns (that job, False) and stores nothing:
    after waiting (up to CATALOG_IDEMPOTENCY_PENDING_S) for a job another request is still
    storing under it; a key that expired or names no job is taken anew. `fingerprint`
    identifies the request (request_fingerprint): the same key with another fingerprint
    raises IdempotencyConflict; a job still being stored past the wait raises
    IdempotencyPending. If storing fails, the job's files are deleted and the key let go. A
    job whose every file was refused has ended already: its manifest is written at once.
    The photos are not sent to the workers: see shared.engine.dispatch.submit_images.
    `listings` holds a photo's listing by its file name: it travels in the photo's state."""
    if not uploads:
        raise ValueError("a job needs at least one image")
    options = options or Options()
    idem = store.keys.idempotency(owner, idempotency_key) if idempotency_key else None
    deadline = time.monotonic() + _pending_ms() / 1000 + 5
    while True:
        job_id = uuid.uuid4().hex
        claim = f"{job_id}:{fingerprint or ''}"
        if idem and not store.redis.set(idem, claim, nx=True, px=_pending_ms()):
            existing = _wait_for(store, idem, owner, fingerprint, deadline)
            if existing is not None:
                return existing, False
            continue  # the key expired, or named no job: take it anew
        try:
            ended = _store_new_job(
                store,
                job_id,
                owner,
                uploads,
                options,
                idempotency_key,
                webhook_url,
                idem=idem,
                claim=claim,
                listings=listings or {},
            )
        except _KeyTaken:
            _abandon(store, job_id, idem, claim)
            continue  # the other request's job is the key's: wait for it
        except BaseException:
            _abandon(store, job_id, idem, claim)
            raise
        break
    if ended:
        write_catalog(store, job_id)
    job = store.get_job(job_id)
    assert job is not None
    return job, True


def _store_new_job(
    store: JobStore,
    job_id: str,
    owner: str,
    uploads: list[Upload],
    options: Options,
    idempotency_key: str | None,
    webhook_url: str | None,
    *,
    idem: str | None = None,
    claim: str = "",
    listings: Mapping[str, Listing] | None = None,
) -> bool:
    """The originals under the job's prefix, then its records in one transaction that
    also makes the idempotency key lasting. Before any file is stored the job is listed
    as pending, so the files of a request that dies half-way are found and deleted by
    shared.engine.jobs.abandoned."""
    marker = store.keys.upload_marker(job_id)
    pipe = store.redis.pipeline(transaction=False)
    pipe.set(marker, claim or "1", ex=_UPLOAD_MARKER_S)
    pipe.zadd(store.keys.uploads_pending, {job_id: time.time()})
    pipe.execute()
    created, taken, images = lifecycle.now(), set[str](), []
    with kept_alive(lambda: _beat(store, job_id, idem, claim)):
        for n, upload in enumerate(uploads):
            image_id = str(n)
            slug = slugify(upload.name, taken)
            image = JobImage(
                id=image_id,
                source=upload.name,
                slug=slug,
                updated=created,
                state=PhotoState(source=upload.name, slug=slug, listing=(listings or {}).get(upload.name)),
            )
            if upload.error:
                image.status, image.stage, image.error, image.error_code = (
                    "failed",
                    None,
                    upload.error,
                    upload.error_code,
                )
            elif isinstance(upload, StreamedUpload) and upload.stream is not None:
                store.blobs.put_stream(input_key(job_id, image_id), upload.stream)
            else:
                store.blobs.put(input_key(job_id, image_id), upload.data or b"")
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
    with store.redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(*watched)
                mine, held = pipe.mget(marker, idem or marker)
                if mine is None:
                    raise RuntimeError(f"job {job_id} was given up as abandoned while it was being stored")
                if idem and held not in (None, claim):
                    raise _KeyTaken()
                pipe.multi()
                ended = lifecycle.open_job(pipe, store, job_id, images, fields, created)
                pipe.zadd(store.keys.owner(owner), {job_id: time.time()})
                if idem:
                    pipe.set(idem, claim)  # no expiry from now on: it names a job that exists
                pipe.delete(marker)
                pipe.zrem(store.keys.uploads_pending, job_id)
                pipe.execute()
                return ended
            except redis.WatchError:
                continue


def _wait_for(store: JobStore, idem: str, owner: str, fingerprint: str | None, deadline: float) -> Job | None:
    """The job of an idempotency key another request made, once it exists; None when the
    key expired or names no job (the caller takes the key anew). IdempotencyConflict when
    that request was another one; IdempotencyPending when its job is still being stored
    at the deadline."""
    while True:
        held = store.redis.get(idem)
        if held is None:
            return None
        job_id, _, first = held.partition(":")  # no fingerprint: a key older than them
        if fingerprint and first and first != fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used for a different request (other files, options "
                "or webhook_url); use a new key for a new job"
            )
        job = store.get_job(job_id, owner=owner)
        if job is not None:
            return job
        ttl_ms = store.redis.pttl(idem)
        if ttl_ms == -1:
            # Lasting: its request committed the job since the look above (the key is made
            # lasting with the job's records), or older code wrote it before the job
            # record and its request died: then it names no job, and is let go.
            job = store.get_job(job_id, owner=owner)
            if job is not None:
                return job
            store.redis.eval(_DELETE_IF, 1, idem, held)
            return None
        if time.monotonic() > deadline:
            raise IdempotencyPending(
                "a request with this Idempotency-Key is still storing its job; try again shortly",
                retry_after_s=max(1, round(ttl_ms / 1000)) if ttl_ms > 0 else 1,
            )
        time.sleep(0.05)


def _abandon(store: JobStore, job_id: str, idem: str | None, claim: str) -> None:
    """A job whose storing failed: its files deleted, its key let go (when still its own),
    its pending entry removed. What cannot be done now (the store or Redis down) is left
    to shared.engine.jobs.abandoned."""
    try:
        store.blobs.delete_prefix(job_prefix(job_id))
        deleted = True
    except Exception:
        log.warning("job %s: its files could not be deleted now; the sweeper will", job_id, exc_info=True)
        deleted = False
    try:
        pipe = store.redis.pipeline(transaction=False)
        if idem:
            pipe.eval(_DELETE_IF, 1, idem, claim)
        if deleted:
            pipe.delete(store.keys.upload_marker(job_id))
            pipe.zrem(store.keys.uploads_pending, job_id)
        pipe.execute()
    except redis.RedisError:
        log.warning("job %s: Redis is out of reach; its key expires by itself", job_id)


def _beat(store: JobStore, job_id: str, idem: str | None, claim: str) -> None:
    """The storing request's sign of life: its job's entry in the pending set, and its
    idempotency key kept from expiring."""
    pipe = store.redis.pipeline(transaction=False)
    pipe.zadd(store.keys.uploads_pending, {job_id: time.time()}, xx=True)
    if idem:
        pipe.eval(_PEXPIRE_IF_PENDING, 1, idem, claim, _pending_ms())
    pipe.execute()

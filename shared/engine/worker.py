"""What a worker does with one stage of one photo: claim it (shared.engine.jobs.lifecycle), run the
stage's steps as the chain names them (the same code as the in-process runner), save the state, and
send the next stage by name; the last stage (color) finishes the photo, and the photo that
finishes its job writes the job's manifest.json and index.html.

Failures:
- Redis out of reach (restarted, cut off): the task keeps its message, waits for Redis
  (CATALOG_REDIS_WAIT_S) and starts the stage over from its claim; past that wait the
  task fails, and the sweeper sends the stage again once its heartbeat has gone quiet
  (the photo's record in Redis still says where it stands);
- bad input (ImageError: not an image, truncated, too large, ...): the photo fails with the
  message, at once, no retry; the other photos go on;
- blob store faults (OSError): the task is retried with exponential backoff (1, 2, 4, ...
  s, at most 60 s, jittered, 5 retries); after the last one the photo fails with the fault;
- the soft time limit, or any other exception: the photo fails with a reason;
- the hard time limit (the process is killed): Celery calls on_failure in the worker's main
  process, and the photo fails there;
- the pool process dies (OOM, SIGKILL): the task is requeued (acks_late and
  reject_on_worker_lost) and runs again; the whole worker dies: its stage's heartbeat goes
  quiet and the sweeper sends the stage again within a minute; a stage started
  MAX_STAGE_ATTEMPTS times fails.
- the job is deleted while a stage runs: the stage's files are removed when it ends.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from shared.domain.records import Options
from shared.engine.celery_app import app
from shared.engine.chain import Stage, task_name
from shared.engine.dispatch import send_stage
from shared.engine.jobs import lifecycle
from shared.engine.jobs.keys import catalog_prefix, input_key, job_prefix, work_prefix
from shared.engine.jobs.records import JobImage
from shared.engine.jobs.store import JobStore, job_store
from shared.engine.manifest import write_catalog
from shared.engine.metrics import record_stage
from shared.engine.stage import Artifacts, StepContext, decode_photo, internal_error, run_stage_steps
from shared.engine.webhooks import send_webhook
from shared.infra.imageio import ImageError
from shared.infra.logs import photo_context
from shared.infra.model_registry import loaded_models
from shared.infra.settings import settings
from shared.infra.storage import BlobNotFound

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
TRANSIENT = (*REDIS_DOWN, OSError)


def run_stage(stage: Stage, job_id: str, image_id: str, *, worker: str = "local", jobs: JobStore | None = None) -> str:
    """Run one stage of one photo; returns what happened ("pose", ... the stage sent next;
    "ok"; "failed"; "skipped"; "resent"). A lost Redis is waited for and the stage started
    over; blob store faults are raised (the task retries)."""
    jobs = jobs or job_store()
    deadline = time.monotonic() + settings().redis_wait_s
    with photo_context(job_id, image_id):
        while True:
            try:
                return _run_stage(stage, job_id, image_id, worker, jobs)
            except REDIS_DOWN as exc:
                # Retrying through the broker would need the very Redis that is gone.
                log.warning("%s: Redis is out of reach (%s); waiting for it, then starting over", stage, exc)
                if not _wait_for_redis(jobs, deadline):
                    raise


def _wait_for_redis(jobs: JobStore, deadline: float) -> bool:
    """Until Redis answers (True) or the deadline passes (False)."""
    while time.monotonic() < deadline:
        try:
            if jobs.redis.ping():
                return True
        except REDIS_DOWN:
            pass
        time.sleep(1.0)
    return False


@contextmanager
def heartbeat(jobs: JobStore, job_id: str, image_id: str, worker: str) -> Iterator[None]:
    """Beat for the running stage from a thread, so the sweeper can tell a long stage from a
    dead one; a beat that cannot reach Redis is skipped (the stage finds out on its own)."""
    s, stop = settings(), threading.Event()

    def beat() -> None:
        while True:
            try:
                lifecycle.beat(jobs, job_id, image_id, worker=worker, pid=os.getpid(), ttl_s=s.stall_after_s)
            except REDIS_DOWN:
                pass
            if stop.wait(s.heartbeat_s):
                return

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            lifecycle.end_beat(jobs, job_id, image_id)
        except REDIS_DOWN:
            pass  # it expires by itself


def _clean_if_deleted(jobs: JobStore, job_id: str) -> None:
    """A job deleted while its stage ran: what the stage wrote since goes too."""
    if not jobs.redis.exists(jobs.keys.job(job_id)):
        log.info("the job was deleted while the stage ran: removing its files")
        jobs.blobs.delete_prefix(job_prefix(job_id))


def _run_stage(stage: Stage, job_id: str, image_id: str, worker: str, jobs: JobStore) -> str:
    claim = lifecycle.claim(jobs, job_id, image_id, stage, worker=worker, pid=os.getpid())
    if claim.action == "skip":
        log.info("%s: nothing to do (photo ended, gone or past this stage)", stage)
        return "skipped"
    image = claim.image
    assert image is not None and image.state is not None
    if claim.action == "resend":
        assert image.stage is not None
        send_stage(image.stage, job_id, image_id)
        return "resent"
    if claim.action == "give_up":
        return fail(
            jobs,
            job_id,
            image,
            stage,
            f"gave up after {lifecycle.MAX_STAGE_ATTEMPTS} attempts at the {stage} stage",
            "internal",
        )

    files = Artifacts(jobs.blobs, catalog_prefix(job_id), image.slug, jobs.blobs, work_prefix(job_id, image_id))

    def load_photo():
        rgb, image.state.scaled_from = decode_photo(jobs.blobs.get(input_key(job_id, image_id)))
        return rgb

    def load_options() -> Options:
        options = jobs.options(job_id)
        if options is None:
            raise LookupError(f"job {job_id} is gone")
        return options

    ctx = StepContext(image.state, files, load_photo, load_options)
    start = time.perf_counter()
    try:
        with heartbeat(jobs, job_id, image_id, worker):
            run_stage_steps(stage, ctx)
    except ImageError as exc:
        return fail(jobs, job_id, image, stage, str(exc), exc.code, start)
    except SoftTimeLimitExceeded:
        return fail(jobs, job_id, image, stage, f"timed out in the {stage} stage (soft time limit)", "timeout", start)
    except TRANSIENT:
        raise
    except Exception as exc:
        log.exception("%s failed", stage)
        return fail(jobs, job_id, image, stage, internal_error(f"the {stage} stage", exc), "internal", start)

    ms = (time.perf_counter() - start) * 1000
    record_stage(jobs.redis, jobs.ns, stage, ms / 1000)
    following = image.state.next_stage(stage)
    if following:
        if lifecycle.advance(jobs, job_id, image_id, stage, image, following, ms=ms, models=loaded_models()):
            send_stage(following, job_id, image_id)
        else:
            _clean_if_deleted(jobs, job_id)
        return following
    if lifecycle.finish(jobs, job_id, image, stage=stage, ms=ms, models=loaded_models()):
        job_finished(jobs, job_id)
    files.clear_work()
    _clean_if_deleted(jobs, job_id)
    log.info("%s: photo done", stage)
    return "ok"


def fail(
    jobs: JobStore, job_id: str, image: JobImage, stage: Stage, error: str, code: str, start: float | None = None
) -> str:
    """End a photo as failed, with the reason the user will read."""
    ms = (time.perf_counter() - start) * 1000 if start is not None else None
    log.warning("%s failed: %s", stage, error)
    if lifecycle.fail(jobs, job_id, image, stage=stage, error=error, code=code, ms=ms, models=loaded_models()):
        job_finished(jobs, job_id)
    jobs.blobs.delete_prefix(work_prefix(job_id, image.id))
    return "failed"


def job_finished(jobs: JobStore, job_id: str) -> None:
    """Called once per job, by the task that ended its last photo: the catalog's manifest
    and gallery are written, and the webhook call, if the job asked for one, is queued."""
    write_catalog(jobs, job_id)
    job = jobs.get_job(job_id)
    if job is None:
        return
    if job.webhook_url:
        send_webhook(job_id)
    log.info("job finished: %s", job.status)


class StageTask(Task):
    """Base of the stage tasks: retries for transient faults, none for bad input."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (OSError,)  # the blob store; a lost Redis is waited for in run_stage
    dont_autoretry_for = (BlobNotFound,)  # a missing original will not come back
    retry_backoff = True
    retry_backoff_max = 60
    retry_jitter = True
    max_retries = 5
    stage: Stage

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        """The task failed for good (retries spent, hard time limit, missing blob): the photo
        fails with the reason, so its job still ends."""
        job_id, image_id = args[:2]
        if isinstance(exc, TimeLimitExceeded):
            error, code = f"timed out in the {self.stage} stage (hard time limit)", "timeout"
        else:
            error, code = internal_error(f"the {self.stage} stage", exc), "internal"
        with photo_context(job_id, image_id):
            try:
                jobs = job_store()
                image = jobs.get_image(job_id, image_id)
                if image is not None:
                    fail(jobs, job_id, image, self.stage, error, code)
            except Exception:  # Redis itself may be what failed
                log.exception("could not mark the photo failed")


def stage_task(stage: Stage) -> Any:
    """Register the Celery task of one stage (named catalog.<stage>, routed to its service's
    queue by shared.engine.celery_app)."""

    def task(self, job_id: str, image_id: str) -> str:
        return run_stage(stage, job_id, image_id, worker=self.request.hostname or "local")

    task.__name__ = task.__qualname__ = stage
    return app.task(bind=True, base=StageTask, name=task_name(stage), stage=stage)(task)

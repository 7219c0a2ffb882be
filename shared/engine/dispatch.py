"""Sending photos to the workers (light: the gateway imports it without the models)."""

from __future__ import annotations

from celery import Celery

from shared.engine.chain import FIRST_STAGE, Stage, queue_of, task_name
from shared.engine.jobs.store import JobStore, job_store


def send_stage(stage: Stage, job_id: str, image_id: str, *, app: Celery | None = None) -> None:
    """Queue one stage of one photo, by task name, on its service's queue."""
    if app is None:
        from shared.engine.celery_app import app as default_app

        app = default_app
    app.send_task(task_name(stage), args=[job_id, image_id], queue=queue_of(stage))


def submit_images(job_id: str, *, jobs: JobStore | None = None, app: Celery | None = None) -> int:
    """Queue the first stage of every photo of the job still waiting for it; returns how
    many were sent. Safe to call again: a photo past it is not resent, and a task that
    arrives twice runs once (shared.engine.jobs.lifecycle.claim)."""
    jobs = jobs or job_store()
    job = jobs.get_job(job_id)
    if job is None:
        raise KeyError(f"no job {job_id}")
    sent = 0
    for image in job.images:
        if image.status == "queued" and image.stage == FIRST_STAGE:
            send_stage(FIRST_STAGE, job_id, image.id, app=app)
            sent += 1
    return sent

"""Sending images to the workers (light: the gateway imports it without the models)."""

from __future__ import annotations

from celery import Celery

from shared.celery_app import STAGE_QUEUES, task_name
from shared.jobs import JobStore, job_store
from shared.schemas import Stage


def send_stage(stage: Stage, job_id: str, image_id: str, *, app: Celery | None = None) -> None:
    """Queue one stage of one image, by task name, on its service's queue."""
    if app is None:
        from shared.celery_app import app
    app.send_task(task_name(stage), args=[job_id, image_id], queue=STAGE_QUEUES[stage])


def submit_images(job_id: str, *, jobs: JobStore | None = None, app: Celery | None = None) -> int:
    """Queue the first stage (detect) of every image of the job still waiting for it;
    returns how many were sent. Safe to call again: an image past detect is not resent, and
    a detect task that arrives twice runs once (JobStore.claim_stage)."""
    jobs = jobs or job_store()
    job = jobs.get_job(job_id)
    if job is None:
        raise KeyError(f"no job {job_id}")
    sent = 0
    for image in job.images:
        if image.status == "queued" and image.stage == "detect":
            send_stage("detect", job_id, image.id, app=app)
            sent += 1
    return sent

"""The webhook call made when a job ends: signed with HMAC, retried with backoff.

The call is a Celery task (catalog.webhook, on the light `color` queue), so a slow or
unreachable receiver never holds up a stage, and a retry waits in the broker, not in a
sleeping worker. See docs/api.md, "Webhook", for what a receiver gets and how it checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from celery import Task

from shared.engine.celery_app import app
from shared.engine.chain import WEBHOOK_QUEUE, WEBHOOK_TASK
from shared.engine.jobs.records import Job
from shared.engine.jobs.store import JobStore, job_store
from shared.infra.logs import photo_context
from shared.infra.settings import settings

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Catalog-Signature"
TIMESTAMP_HEADER = "X-Catalog-Timestamp"
MAX_ATTEMPTS = 9  # the first call and 8 retries
TIMEOUT_S = 10.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, max_age_s: float = 300) -> bool:
    """What a receiver does: same HMAC, compared in constant time, and a fresh timestamp."""
    try:
        fresh = abs(time.time() - float(timestamp)) <= max_age_s
    except ValueError:
        return False
    return fresh and hmac.compare_digest(sign(secret, timestamp, body), signature)


def private_address(url: str) -> str | None:
    """The first address the URL's host resolves to that is not on the public internet
    (loopback, private, link-local, ...), or None when all are public. A host that does not
    resolve is let through: delivery will fail and say so."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def refused_destination(url: str) -> str | None:
    """Why a webhook may not go to this URL under the current settings, or None."""
    if settings().private_webhooks_allowed:
        return None
    if address := private_address(url):
        return (
            f"webhook_url {url!r} points to a non-public address ({address}); "
            "set CATALOG_WEBHOOK_ALLOW_PRIVATE=true to allow it"
        )
    return None


def job_links(base_url: str, job_id: str) -> dict[str, str]:
    base = f"{base_url.rstrip('/')}/v1/jobs/{job_id}"
    return {
        "self": base,
        "manifest": f"{base}/manifest",
        "archive": f"{base}/archive",
        "page": f"{base_url.rstrip('/')}/jobs/{job_id}",
    }


def payload(job: Job) -> dict:
    return {
        "event": "job.finished",
        "job": {"id": job.id, "status": job.status, "progress": job.progress.model_dump(), "finished": job.finished},
        "links": job_links(settings().public_url, job.id),
    }


def backoff_s(retries: int) -> float:
    """5 s, 10 s, 20 s, ... at most 10 minutes: about 20 minutes over 8 retries."""
    return min(5.0 * 2**retries, 600.0)


def send_webhook(job_id: str) -> None:
    """Queue the webhook call of a finished job (see deliver_webhook)."""
    app.send_task(WEBHOOK_TASK, args=[job_id], queue=WEBHOOK_QUEUE)


def record_delivery(jobs: JobStore, job_id: str, status: str, attempts: int, error: str | None = None) -> None:
    """Record how delivery of the job's webhook call stands on the job (nothing if it is gone)."""
    jobs.redis.eval(
        "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) end",
        1,
        jobs.keys.job(job_id),
        "webhook_status",
        status,
        "webhook_attempts",
        attempts,
        "webhook_error",
        error or "",
    )


def webhook_task() -> Any:
    """Register the webhook call's Celery task (catalog.webhook) in the worker that runs it."""

    def deliver_webhook(self: Task, job_id: str) -> str:
        with photo_context(job_id):
            return _deliver(self, job_id)

    return app.task(bind=True, name=WEBHOOK_TASK, acks_late=True, max_retries=MAX_ATTEMPTS - 1)(deliver_webhook)


def _deliver(self: Task, job_id: str) -> str:
    jobs = job_store()
    job = jobs.get_job(job_id)
    if job is None or not job.webhook_url:
        return "gone"
    attempt = self.request.retries + 1
    if refused := refused_destination(job.webhook_url):  # checked again: DNS may have changed
        record_delivery(jobs, job_id, "failed", attempt, refused)
        return "failed"
    body = json.dumps(payload(job)).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, "User-Agent": "catalog-webhook/1"}
    if secret := settings().webhook_secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    try:
        response = httpx.post(job.webhook_url, content=body, headers=headers, timeout=TIMEOUT_S)
        error = None if response.is_success else f"the receiver answered {response.status_code}"
        again = response.status_code == 429 or response.status_code >= 500
    except httpx.HTTPError as exc:
        error, again = f"could not reach the receiver: {type(exc).__name__}: {exc}", True
    if error is None:
        record_delivery(jobs, job_id, "delivered", attempt)
        return "delivered"
    if again and attempt < MAX_ATTEMPTS:
        record_delivery(jobs, job_id, "pending", attempt, error)
        log.warning("webhook, attempt %d: %s; retrying", attempt, error)
        raise self.retry(countdown=backoff_s(self.request.retries), max_retries=MAX_ATTEMPTS - 1)
    record_delivery(jobs, job_id, "failed", attempt, error)
    log.warning("webhook failed for good after %d attempts: %s", attempt, error)
    return "failed"

"""The webhook call made when a job ends: signed with HMAC, retried with backoff.

The call is a Celery task (catalog.webhook) on a queue of its own, `webhooks`, served by
its own worker (services/webhooks) with several calls in flight, each within
CATALOG_WEBHOOK_TIMEOUT_S: a slow or unreachable receiver never holds up a stage, nor more
than one of the worker's threads, and a retry waits in the broker, not in a sleeping
worker. The URL's host is resolved once per call, checked, and that address is the one
connected to (shared.infra.public_address, shared.infra.pinned_http). See docs/api.md,
"Webhook", for what a receiver gets and how it checks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any

import httpx
from celery import Task

from shared.engine.celery_app import app
from shared.engine.chain import WEBHOOK_QUEUE, WEBHOOK_TASK
from shared.engine.jobs.records import Job
from shared.engine.jobs.store import JobStore, job_store
from shared.infra import pinned_http, public_address
from shared.infra.logs import photo_context
from shared.infra.public_address import Destination, Refused, Unresolved
from shared.infra.settings import settings

log = logging.getLogger(__name__)

# A host as httpx gives it: a DNS name (IDNA), an IPv4 address, or an IPv6 one (a zone, as
# in fe80::1%25eth0, comes through to be refused by name: a link is not a receiver).
HOST = re.compile(r"[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]+(%25[A-Za-z0-9_.-]+)?")
SIGNATURE_HEADER = "X-Catalog-Signature"
TIMESTAMP_HEADER = "X-Catalog-Timestamp"


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


def destination(url: str) -> Destination:
    """Where this URL's webhook call is to go: its host resolved once and checked
    (shared.infra.public_address), the address to connect to. Refused, saying why, when it
    may not be called: too long, not an http(s) URL with a host, a host that does not
    resolve (Unresolved), or, unless CATALOG_WEBHOOK_ALLOW_PRIVATE, one that resolves to any
    address that is not public."""
    s = settings()
    if len(url) > s.webhook_url_max_chars:
        raise Refused(
            f"it is {len(url)} characters long; the limit is {s.webhook_url_max_chars} (CATALOG_WEBHOOK_URL_MAX_CHARS)"
        )
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise Refused("it is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise Refused("an http:// or https:// URL with a host is needed")
    host = parsed.raw_host.decode("ascii")  # a name in IDNA form, or an address
    if not HOST.fullmatch(host):
        raise Refused("its host is not a valid name or address")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise Refused("its port is out of range")
    return public_address.destination(host, port, allow_private=s.private_webhooks_allowed)


def refused_destination(url: str) -> str | None:
    """Why a webhook may not go to this URL under the current settings, or None."""
    try:
        destination(url)
    except Refused as exc:
        return f"webhook_url refused: {exc}"
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
    """CATALOG_WEBHOOK_BACKOFF_S (5 s), doubling with each retry, at most 10 minutes."""
    return min(settings().webhook_backoff_s * 2**retries, 600.0)


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
    """Register the webhook call's Celery task (catalog.webhook) in the worker that runs it.
    Its retries are counted by _deliver against CATALOG_WEBHOOK_MAX_ATTEMPTS."""

    def deliver_webhook(self: Task, job_id: str) -> str:
        with photo_context(job_id):
            return _deliver(self, job_id)

    return app.task(bind=True, name=WEBHOOK_TASK, acks_late=True, max_retries=None)(deliver_webhook)


def _deliver(self: Task, job_id: str) -> str:
    """One attempt. Every way it can go ends in the job's record: delivered; failed (at
    once when retrying cannot help: a refused or invalid URL, an answer other than 429 or
    5xx; else once the attempts are spent), with the reason; or pending with the last
    error, the retry waiting in the broker."""
    jobs = job_store()
    job = jobs.get_job(job_id)
    if job is None or not job.webhook_url:
        return "gone"
    attempt, most = self.request.retries + 1, settings().webhook_max_attempts
    error, again = _attempt(job)
    if error is None:
        record_delivery(jobs, job_id, "delivered", attempt)
        return "delivered"
    if again and attempt < most:
        record_delivery(jobs, job_id, "pending", attempt, error)
        log.warning("webhook, attempt %d: %s; retrying", attempt, error)
        raise self.retry(countdown=backoff_s(self.request.retries), max_retries=None)
    record_delivery(jobs, job_id, "failed", attempt, error)
    log.warning("webhook failed for good after %d attempt(s): %s", attempt, error)
    return "failed"


def _attempt(job: Job) -> tuple[str | None, bool]:
    """One call: (None, _) when delivered, else (why not, whether a retry may help)."""
    assert job.webhook_url
    try:
        target = destination(job.webhook_url)  # resolved again: DNS may have changed
    except Unresolved as exc:
        return f"webhook_url refused: {exc}", True  # a name server may be down for a while
    except Refused as exc:
        return f"webhook_url refused: {exc}", False
    body = json.dumps(payload(job)).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp, "User-Agent": "catalog-webhook/1"}
    if secret := settings().webhook_secret:
        headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    try:
        response = pinned_http.post(
            job.webhook_url, target.address, content=body, headers=headers, deadline_s=settings().webhook_timeout_s
        )
    except httpx.TimeoutException:
        limit = settings().webhook_timeout_s
        return f"the receiver did not answer within {limit:g} s (CATALOG_WEBHOOK_TIMEOUT_S)", True
    except httpx.HTTPError as exc:
        return f"could not reach the receiver: {type(exc).__name__}: {exc}", True
    except httpx.InvalidURL:
        return "webhook_url refused: it is not a valid URL", False
    except Exception as exc:  # anything else must still end in the record, never leave it pending
        log.exception("webhook call raised")
        return f"the call failed: {type(exc).__name__}", True
    if response.is_success:
        return None, False
    return f"the receiver answered {response.status_code}", response.status_code == 429 or response.status_code >= 500

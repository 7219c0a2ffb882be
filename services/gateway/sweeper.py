"""The sweeper: no photo stays stuck. Every CATALOG_SWEEP_INTERVAL_S it sends again the stage of
each photo whose stage has not moved (shared.engine.jobs.lifecycle.stalled): a stage whose worker
died or lost Redis, a message that was lost; and it deletes the files of uploads abandoned
half-way (a gateway killed mid-upload). The claim counts every start, so a photo that keeps
stalling fails with a reason after MAX_STAGE_ATTEMPTS.

It runs as a thread of the gateway (start_sweeper); with several gateways, a Redis lock lets
one sweep at a time.
"""

from __future__ import annotations

import logging
import threading

import redis

from shared.engine.dispatch import send_stage
from shared.engine.jobs import lifecycle
from shared.engine.jobs.abandoned import sweep_abandoned_uploads
from shared.engine.jobs.store import JobStore, job_store
from shared.infra.logs import photo_context
from shared.infra.settings import settings

log = logging.getLogger(__name__)


# The files of an upload whose gateway died half-way are deleted after this long with no
# sign of life from it (its request beats every few seconds while it stores).
ABANDONED_UPLOAD_S = 300.0


def sweep_once(store: JobStore, *, stall_after_s: float | None = None) -> list[lifecycle.Stalled]:
    """Send again the stage of every stalled photo (returned), and delete the files of
    uploads abandoned half-way."""
    sweep_abandoned_uploads(store, ABANDONED_UPLOAD_S)
    found = lifecycle.stalled(store, stall_after_s=settings().stall_after_s if stall_after_s is None else stall_after_s)
    for stuck in found:
        with photo_context(stuck.job_id, stuck.image_id):
            log.warning("sending %s again: %s", stuck.stage, stuck.why)
            send_stage(stuck.stage, stuck.job_id, stuck.image_id)
    return found


def start_sweeper(store: JobStore | None = None) -> threading.Event | None:
    """Sweep in a daemon thread until the returned event is set (None when sweeping is off)."""
    interval = settings().sweep_interval_s
    if interval <= 0:
        return None
    store, stop = store or job_store(), threading.Event()

    def loop() -> None:
        while not stop.wait(interval):
            try:
                # Held for most of an interval: another gateway's sweeper waits its turn.
                if store.redis.set(store.keys.sweeper, "1", nx=True, ex=max(1, int(interval * 0.9))):
                    sweep_once(store)
            except redis.RedisError as exc:
                log.warning("sweeper: Redis is out of reach (%s)", exc)
            except Exception:
                log.exception("sweeper: a sweep failed")

    threading.Thread(target=loop, name="sweeper", daemon=True).start()
    return stop

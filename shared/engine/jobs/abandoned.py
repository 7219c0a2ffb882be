"""The files of jobs whose storing request died half-way (a gateway killed during an upload
runs no cleanup), found and deleted: the sweeper's other round (services.gateway.sweeper)."""

from __future__ import annotations

import logging
import time

from shared.engine.jobs.keys import job_prefix
from shared.engine.jobs.store import JobStore

log = logging.getLogger(__name__)


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

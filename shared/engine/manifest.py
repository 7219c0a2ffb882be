"""A job's manifest: built from the records of its photos that have ended, and written as
manifest.json and index.html into its catalog folder when it ends (the same folder the CLI
writes; an archive of it is the whole catalog)."""

from __future__ import annotations

from shared.domain.records import Manifest
from shared.engine.gallery import render_gallery
from shared.engine.jobs.keys import catalog_key
from shared.engine.jobs.records import Job
from shared.engine.jobs.store import JobStore
from shared.infra.storage import BlobNotFound


def build_manifest(store: JobStore, job: Job) -> Manifest:
    """The manifest of the photos that have ended so far, in upload order. File paths are
    relative to the catalog root: catalog_key(job_id, path) is the blob key."""
    return Manifest(created=job.created, options=job.options, images=store.records(job.id))


def job_manifest(store: JobStore, job: Job) -> Manifest:
    """The stored manifest.json of a job that has ended; for a job still running, the
    manifest of its photos that have ended."""
    if job.finished:
        try:
            return Manifest.model_validate_json(store.blobs.get(catalog_key(job.id, "manifest.json")))
        except BlobNotFound:  # the job's last worker is still writing it
            pass
    return build_manifest(store, job)


def write_catalog(store: JobStore, job_id: str) -> Manifest:
    """manifest.json and index.html into the job's catalog folder."""
    job = store.get_job(job_id)
    if job is None:
        raise KeyError(f"no job {job_id}")
    manifest = build_manifest(store, job)
    store.blobs.put(catalog_key(job_id, "manifest.json"), manifest.model_dump_json(indent=2).encode())
    store.blobs.put(catalog_key(job_id, "index.html"), render_gallery(manifest).encode())
    return manifest

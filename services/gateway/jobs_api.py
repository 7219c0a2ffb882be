"""The /v1/jobs endpoints (docs/api.md). Endpoints are plain functions: FastAPI runs them
on its thread pool, where the blocking Redis and blob-store calls belong."""

from __future__ import annotations

import logging
import mimetypes
import re
import tempfile
import zipfile
from datetime import datetime
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    BackgroundTasks,
    Depends,
    File,
    Form,
    Header,
    HTTPException,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from services.gateway.api_models import ErrorBody, JobList, JobPublic, JobSummary, Refusal
from services.gateway.auth import caller
from services.gateway.headers import public_base, public_url_for
from services.gateway.storage_errors import storage_calls
from services.gateway.styles_api import job_style
from services.gateway.uploads import (
    JobForm,
    UploadRoute,
    check_webhook_url,
    fingerprint,
    job_listings,
    read_uploads,
    refusal,
)
from shared.domain.records import Manifest
from shared.engine.dispatch import submit_images
from shared.engine.jobs.create import IdempotencyConflict, IdempotencyPending
from shared.engine.jobs.create import create_job as store_new_job
from shared.engine.jobs.keys import catalog_key, catalog_prefix
from shared.engine.jobs.records import Job
from shared.engine.jobs.store import JobStore, job_store
from shared.engine.manifest import job_manifest
from shared.engine.webhooks import job_links
from shared.infra.logs import about_job

log = logging.getLogger(__name__)

# Any /v1/jobs route may answer these (for the OpenAPI document).
router = APIRouter(
    prefix="/v1/jobs",
    tags=["jobs"],
    responses={
        401: {"model": ErrorBody, "description": "No API key, or an unknown one"},
        503: {"model": ErrorBody, "description": "Redis or the file store is out of reach: try again"},
    },
)
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No such job (or another key's)"}}
Owner = Annotated[str, Depends(caller)]
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 256 * 1024
# What a catalog holds (the images in the job's format, manifest.json, index.html), for the
# OpenAPI document: get_file serves each file as the type its name says.
BINARY = {"schema": {"type": "string", "format": "binary"}}
FILE_TYPES = {
    **{f"image/{kind}": BINARY for kind in ("jpeg", "png", "webp")},
    "application/json": {},
    "text/html": {"schema": {"type": "string"}},
    "application/octet-stream": BINARY,
}
# Already compressed: stored as they are in an archive; the rest (json, html) deflated.
COMPRESSED = (".jpg", ".jpeg", ".png", ".webp")


def jobs() -> JobStore:
    return job_store()


def find_job(job_id: str, owner: str, *, states: bool = False) -> Job:
    """The caller's job, or 404: another key's job is answered as if it did not exist."""
    job = jobs().get_job(job_id, owner=owner, states=states) if JOB_ID.match(job_id) else None
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
    return job


def links(request: Request, job_id: str) -> dict[str, str]:
    """A job's links, on CATALOG_PUBLIC_URL or a trusted Host: never a Host the client made up
    (services.gateway.headers)."""
    return job_links(public_base(request), job_id)


def public(job: Job, request: Request) -> JobPublic:
    return JobPublic.of(job, links(request, job.id))


# A job none of whose files could be accepted: the files' status when they all failed alike.
REFUSED: Responses = {
    409: {
        "model": ErrorBody,
        "description": "The Idempotency-Key was used for a different request, or its first request is still storing",
    },
    413: {
        "model": Refusal | ErrorBody,
        "description": "Every file is too large, too many files, or the request is over CATALOG_MAX_REQUEST_MB",
    },
    415: {"model": Refusal, "description": "Every file is of a type not read"},
    422: {"model": Refusal | ErrorBody, "description": "Every file refused (for different reasons), or a bad option"},
}


def create_job(
    request: Request,
    response: Response,
    background: BackgroundTasks,
    owner: Owner,
    files: Annotated[list[UploadFile], File(description="One or more photos")],
    form: Annotated[JobForm, Form()],
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
):
    options = form.options().model_copy(update={"style": job_style(owner, form.style)})
    webhook_url = check_webhook_url(form.webhook_url)
    uploads = read_uploads(files)
    listings = job_listings(form.listings, uploads)
    if all(u.error for u in uploads):
        code, body = refusal(uploads)
        return JSONResponse(body.model_dump(), status_code=code)
    store = jobs()
    try:
        with storage_calls():  # stores the originals
            job, created = store_new_job(
                store,
                owner,
                uploads,
                options,
                idempotency_key=idempotency_key,
                webhook_url=webhook_url,
                fingerprint=fingerprint(options, webhook_url, files, listings) if idempotency_key else None,
                listings=listings,
            )
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except IdempotencyPending as exc:
        raise HTTPException(
            status.HTTP_409_CONFLICT, str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    about_job(job.id)  # the request's later lines, the access line too, name the new job
    # The 202 waits for the stored files and the job record only: the photos are queued once
    # it has gone. Also on a replay: sending is idempotent, and a first request that stored
    # the job but failed to queue it (broker down) is completed by its retry. A gateway
    # killed between its answer and the send leaves the photos `queued` with no message:
    # the sweeper (services.gateway.sweeper) sends again the stage of photos queued for too long.
    background.add_task(send_photos, job.id, store)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return public(job, request)


# POST /v1/jobs on its own route class: the body's size is limited as it arrives, and the
# files counted and hashed while the form is read (services.gateway.uploads.UploadRoute).
router.add_api_route(
    "",
    create_job,
    methods=["POST"],
    route_class_override=UploadRoute,
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    responses=REFUSED,
    summary="Submit photos as a new job",
)


def send_photos(job_id: str, store: JobStore) -> None:
    """Queue the job's photos, after the answer; a failure is logged (the photos stay
    queued, for the sweeper), not raised into a response already sent."""
    try:
        submit_images(job_id, jobs=store)
    except Exception:
        log.exception("job %s: its photos could not be queued now; the sweeper sends them again", job_id)


@router.get("", response_model=JobList, summary="The caller's recent jobs, newest first")
def list_jobs(request: Request, owner: Owner, limit: int = 50):
    store = jobs()
    found = (store.get_job(job_id) for job_id in store.list_jobs(owner, limit=max(1, min(limit, 500))))
    return JobList(jobs=[JobSummary.of(job, links(request, job.id)) for job in found if job])


@router.get(
    "/{job_id}", response_model=JobPublic, responses=NOT_FOUND, summary="A job's status, progress and per-image state"
)
def get_job(job_id: str, request: Request, owner: Owner):
    return public(find_job(job_id, owner), request)


@router.get(
    "/{job_id}/manifest", response_model=Manifest, responses=NOT_FOUND, summary="The catalog manifest, with file URLs"
)
def get_manifest(job_id: str, request: Request, owner: Owner):
    job = find_job(job_id, owner)
    with storage_calls():  # a finished job's manifest.json
        manifest = job_manifest(jobs(), job)

    def url(path: str | None) -> str | None:
        return public_url_for(request, "get_file", job_id=job_id, path=path) if path else None

    for record in manifest.images:
        record.preview = url(record.preview)
        for item in record.items:
            files = item.files
            files.image = url(files.image) or ""
            files.cutout, files.swatch = url(files.cutout), url(files.swatch)
    return manifest


@router.get(
    "/{job_id}/files/{path:path}",
    summary="One file of the catalog",
    response_class=Response,
    responses={
        200: {"content": FILE_TYPES, "description": "The file, typed by its name"},
        400: {"model": ErrorBody, "description": "Not a clean path inside the catalog"},
        404: {"model": ErrorBody, "description": "No such job or file"},
    },
)
def get_file(job_id: str, path: str, owner: Owner):
    find_job(job_id, owner)
    try:
        key = catalog_key(job_id, path)
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"invalid file path {path!r}: a path inside the catalog is needed, without '..', '.', '//' or '\\'",
        ) from None
    blobs, missing = jobs().blobs, f"no file {path} in job {job_id}"
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with storage_calls(not_found=missing):
        if blobs.local:
            if not blobs.exists(key):
                raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
            return FileResponse(blobs.path(key), media_type=media_type)
        size, stream = blobs.size(key), blobs.open(key)
    return StreamingResponse(_chunks(stream), media_type=media_type, headers={"Content-Length": str(size)})


@router.get(
    "/{job_id}/archive",
    summary="The whole catalog as a ZIP",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The catalog"},
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "The job is still running"},
    },
)
def get_archive(job_id: str, owner: Owner):
    job = find_job(job_id, owner)
    if not job.finished:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"job {job_id} is still {job.status}: {job.progress.done} of {job.progress.total} images done",
        )
    blobs, prefix = jobs().blobs, catalog_prefix(job_id)
    # Built in a temporary file (memory first, disk past 64 MB), then streamed. A file gone
    # while it is built: the job was deleted meanwhile.
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 2**20)
    with storage_calls(not_found=f"no job {job_id}"), zipfile.ZipFile(spool, "w") as archive:
        for key in blobs.list(prefix):
            name = key[len(prefix) + 1 :]
            entry = zipfile.ZipInfo(name, datetime.fromisoformat(job.finished).timetuple()[:6])
            entry.compress_type = zipfile.ZIP_STORED if name.lower().endswith(COMPRESSED) else zipfile.ZIP_DEFLATED
            with blobs.open(key) as src, archive.open(entry, "w") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
    size = spool.tell()
    spool.seek(0)
    return StreamingResponse(
        _chunks(spool),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="catalog-{job_id}.zip"', "Content-Length": str(size)},
    )


@router.delete(
    "/{job_id}", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND, summary="Delete a job and its files"
)
def delete_job(job_id: str, owner: Owner):
    find_job(job_id, owner)
    with storage_calls():  # its records and files
        jobs().delete_job(job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _chunks(stream):
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk

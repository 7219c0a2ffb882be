"""The /v1/jobs endpoints (docs/api.md). Endpoints are plain functions: FastAPI runs them
on its thread pool, where the blocking Redis and blob-store calls belong."""

from __future__ import annotations

import mimetypes
import re
import tempfile
import zipfile
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, HTTPException, Request, Response, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse

from services.gateway.auth import caller
from services.gateway.uploads import check_webhook_url, parse_options, read_uploads, refusal
from shared.dispatch import submit_images
from shared.jobs import Job, JobStore, catalog_key, catalog_prefix, job_store
from shared.schemas import Manifest
from shared.storage import BlobNotFound
from shared.webhooks import job_links

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
Owner = Annotated[str, Depends(caller)]
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
CHUNK = 256 * 1024
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


def job_body(job: Job, request: Request) -> dict:
    body = job.model_dump(mode="json", exclude={"owner", "idempotency_key", "webhook_url"})
    body["links"] = job_links(str(request.base_url), job.id)
    return body


@router.post("", status_code=status.HTTP_202_ACCEPTED, summary="Submit photos as a new job")
def create_job(
    request: Request,
    response: Response,
    owner: Owner,
    files: Annotated[list[UploadFile], File(description="One or more photos")],
    garments: Annotated[str | None, Form(description="Crops wanted: top,bottom,headwear,shoes")] = None,
    aspect: Annotated[str | None, Form(description="3:4, 1:1, 4:5 or free")] = None,
    background: Annotated[str | None, Form(description="white, transparent or #rrggbb")] = None,
    format: Annotated[str | None, Form(description="jpeg, png or webp")] = None,
    swatch_size: Annotated[str | None, Form()] = None,
    palette_size: Annotated[str | None, Form()] = None,
    padding: Annotated[str | None, Form()] = None,
    webhook_url: Annotated[str | None, Form(description="Called once when the job ends")] = None,
    idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
):
    options = parse_options({"garments": garments, "aspect": aspect, "background": background, "format": format,
                             "swatch_size": swatch_size, "palette_size": palette_size, "padding": padding})
    webhook_url = check_webhook_url(webhook_url)
    uploads = read_uploads(files)
    if all(u.error for u in uploads):
        code, body = refusal(uploads)
        return JSONResponse(body, status_code=code)
    store = jobs()
    job, created = store.create_job(owner, uploads, options, idempotency_key=idempotency_key, webhook_url=webhook_url)
    # Also on a replay: sending is idempotent, and a first request that stored the job but
    # failed to queue it (broker down) is completed by its retry.
    submit_images(job.id, jobs=store)
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    return job_body(job, request)


@router.get("", summary="The caller's recent jobs, newest first")
def list_jobs(request: Request, owner: Owner, limit: int = 50):
    store = jobs()
    found = (store.get_job(job_id) for job_id in store.list_jobs(owner, limit=max(1, min(limit, 500))))
    return {"jobs": [
        {"id": job.id, "status": job.status, "created": job.created, "updated": job.updated,
         "finished": job.finished, "progress": job.progress.model_dump(),
         "sources": [image.source for image in job.images], "links": job_links(str(request.base_url), job.id)}
        for job in found if job is not None
    ]}


@router.get("/{job_id}", summary="A job's status, progress and per-image state")
def get_job(job_id: str, request: Request, owner: Owner):
    return job_body(find_job(job_id, owner), request)


@router.get("/{job_id}/manifest", response_model=Manifest, summary="The catalog manifest, with file URLs")
def get_manifest(job_id: str, request: Request, owner: Owner):
    manifest = jobs().manifest(find_job(job_id, owner, states=True))

    def url(path: str | None) -> str | None:
        return str(request.url_for("get_file", job_id=job_id, path=path)) if path else None

    for record in manifest.images:
        record.preview = url(record.preview)
        for item in record.items:
            files = item.files
            files.image, files.cutout, files.swatch = url(files.image), url(files.cutout), url(files.swatch)
    return manifest


@router.get("/{job_id}/files/{path:path}", summary="One file of the catalog")
def get_file(job_id: str, path: str, owner: Owner):
    find_job(job_id, owner)
    try:
        key = catalog_key(job_id, path)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"invalid file path {path!r}: a path inside the catalog "
                                                         "is needed, without '..', '.', '//' or '\\'") from None
    blobs = jobs().blobs
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if blobs.local:
        if not blobs.exists(key):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {path} in job {job_id}")
        return FileResponse(blobs.path(key), media_type=media_type)
    try:
        size, stream = blobs.size(key), blobs.open(key)
    except BlobNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {path} in job {job_id}") from None
    return StreamingResponse(_chunks(stream), media_type=media_type, headers={"Content-Length": str(size)})


@router.get("/{job_id}/archive", summary="The whole catalog as a ZIP", response_class=StreamingResponse)
def get_archive(job_id: str, owner: Owner):
    job = find_job(job_id, owner)
    if not job.finished:
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} is still {job.status}: "
                                                      f"{job.progress.done} of {job.progress.total} images done")
    blobs, prefix = jobs().blobs, catalog_prefix(job_id)
    # Built in a temporary file (memory first, disk past 64 MB), then streamed.
    spool = tempfile.SpooledTemporaryFile(max_size=64 * 2**20)
    with zipfile.ZipFile(spool, "w") as archive:
        for key in blobs.list(prefix):
            name = key[len(prefix) + 1:]
            entry = zipfile.ZipInfo(name, datetime.fromisoformat(job.finished).timetuple()[:6])
            entry.compress_type = zipfile.ZIP_STORED if name.lower().endswith(COMPRESSED) else zipfile.ZIP_DEFLATED
            with blobs.open(key) as src, archive.open(entry, "w") as dst:
                while chunk := src.read(CHUNK):
                    dst.write(chunk)
    size = spool.tell()
    spool.seek(0)
    return StreamingResponse(_chunks(spool), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="catalog-{job_id}.zip"', "Content-Length": str(size)})


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a job and its files")
def delete_job(job_id: str, owner: Owner):
    find_job(job_id, owner)
    jobs().delete_job(job_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _chunks(stream):
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk


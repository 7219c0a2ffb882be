"""Checking an upload before a job is accepted: the options, and each file from its
header (no pixel is decoded here; damage past the header is found by the detect worker)."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlsplit

from fastapi import HTTPException, UploadFile, status
from pydantic import BaseModel, Field, ValidationError

from shared.api_models import Refusal, RefusedFile
from shared.imageio import ImageError, check_header
from shared.jobs.records import Upload
from shared.schemas import Options
from shared.settings import settings
from shared.webhooks import refused_destination

# ImageError.code -> the HTTP status of a request whose every file failed that way.
STATUS_OF = {"too_large": 413, "unsupported": 415}  # the rest (damaged, empty, too small): 422


class JobForm(BaseModel):
    """The job's form fields besides `files`, as sent: text, checked by options() so a bad
    value is a 422 that names the field (and an empty field keeps its default)."""

    garments: str | None = Field(None, description="Crops wanted, comma-separated: top,bottom,headwear,shoes")
    aspect: str | None = Field(None, description="3:4, 1:1, 4:5 or free")
    background: str | None = Field(None, description="white, transparent or #rrggbb")
    format: str | None = Field(None, description="jpeg, png or webp")
    swatch_size: str | None = Field(None, description="Swatch side in pixels")
    palette_size: str | None = Field(None, description="Colours per palette")
    padding: str | None = Field(None, description="Margin around a crop, as a share of its size")
    webhook_url: str | None = Field(None, description="Called once when the job ends")

    def options(self) -> Options:
        """Options from the fields sent (the rest keep their defaults); 422 names the field."""
        given = {k: v for k, v in self.model_dump(exclude={"webhook_url"}).items() if v not in (None, "")}
        if "garments" in given:
            given["garments"] = [g.strip() for g in given["garments"].split(",") if g.strip()]
        try:
            return Options(**given)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid options: {problems}") from None


def check_webhook_url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid webhook_url {url!r}: an http:// or https:// URL is needed"
        )
    if refused := refused_destination(url):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, refused)
    return url


def file_name(upload: UploadFile, n: int) -> str:
    """The name the user gave the file, without any folder part (a name is a label, never
    a path), or upload-<n> when it has none."""
    raw = (upload.filename or "").replace("\\", "/")
    name = "".join(ch for ch in PurePosixPath(raw).name if ch.isprintable()).strip()
    return name if name not in ("", ".", "..") else f"upload-{n}"


def read_uploads(files: list[UploadFile]) -> list[Upload]:
    """Each file read and checked: good ones carry their bytes, bad ones their error."""
    s = settings()
    if not files:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no files: send photos in the 'files' field")
    if len(files) > s.max_files:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"too many files: {len(files)}; at most {s.max_files} per job"
        )
    limit = int(s.max_upload_mb * 1024 * 1024)
    uploads = []
    for n, upload in enumerate(files):
        name = file_name(upload, n)
        if upload.size is not None and upload.size > limit:
            uploads.append(
                Upload(
                    name,
                    error=f"file too large: {upload.size / 2**20:.1f} MB; the limit is {s.max_upload_mb:g} MB",
                    error_code="too_large",
                )
            )
            continue
        data = upload.file.read(limit + 1)
        try:
            if len(data) > limit:
                raise ImageError(f"file too large: over {s.max_upload_mb:g} MB", "too_large")
            check_header(data, max_pixels=s.max_pixels, min_side=s.min_side)
        except ImageError as exc:
            uploads.append(Upload(name, error=str(exc), error_code=exc.code))
            continue
        uploads.append(Upload(name, data=data))
    return uploads


def refusal(uploads: list[Upload]) -> tuple[int, Refusal]:
    """Status and body when no file could be accepted: the files' own status when they all
    failed the same way, else 422."""
    codes = {u.error_code or "" for u in uploads}
    code = STATUS_OF.get(codes.pop(), 422) if len(codes) == 1 else 422
    files = [RefusedFile(name=u.name, error=u.error, code=u.error_code) for u in uploads]
    detail = f"{files[0].name}: {files[0].error}" if len(files) == 1 else "no file of the job could be accepted"
    return code, Refusal(detail=detail, files=files)

"""Checking an upload before a job is accepted: the request's size as it arrives, the
options, and each file from its header (no pixel is decoded here; damage past the header
is found by the detect worker).

Sizes are enforced while the body streams in, never after it has all been read
(UploadRoute): the whole request against CATALOG_MAX_REQUEST_MB (413 at once when its
Content-Length is over, else as soon as the bytes received pass it), and each file against
CATALOG_MAX_UPLOAD_MB (UploadParser keeps no byte of a file past it: the file is refused
alone, the others go on). Each file is hashed as it arrives, for the request's fingerprint
(idempotency), and spooled to a temporary file (disk past 1 MB), from which the job store
copies it to the blob store: no file is ever held whole in memory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import PurePosixPath
from typing import Any

from fastapi import HTTPException, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, ValidationError
from python_multipart.multipart import parse_options_header
from starlette._utils import AwaitableOrContextManager, AwaitableOrContextManagerWrapper
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.api_models import Refusal, RefusedFile
from services.gateway.auth import owner_of_headers
from shared.domain.listing import Listing
from shared.domain.listing_files import MAX_LISTINGS_BYTES, ListingError, listings_from_text, unmatched
from shared.domain.records import Options
from shared.engine.jobs.create import StreamedUpload, request_fingerprint
from shared.engine.jobs.records import Upload
from shared.engine.webhooks import refused_destination
from shared.infra.imageio import ImageError, check_header
from shared.infra.settings import settings

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
    style: str | None = Field(
        None, max_length=64, description="A style guide's name (GET /v1/styles), or 'none'; left out: the key's default"
    )
    webhook_url: str | None = Field(None, description="Called once when the job ends")
    listings: str | None = Field(
        None,
        max_length=MAX_LISTINGS_BYTES,
        description="Each photo's listing, checked against it: a JSON object from file name to "
        "{title, description, category, colour, brand}, or a CSV's text with a 'file' column and a "
        "column per field (docs/api.md)",
    )

    def options(self) -> Options:
        """Options from the fields sent (the rest keep their defaults); 422 names the field."""
        given = {
            k: v
            for k, v in self.model_dump(exclude={"webhook_url", "style", "listings"}).items()
            if v not in (None, "")
        }
        if "garments" in given:
            given["garments"] = [g.strip() for g in given["garments"].split(",") if g.strip()]
        try:
            return Options(**given)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid options: {problems}") from None


def job_listings(text: str | None, uploads: list[Upload]) -> dict[str, Listing]:
    """The listings sent, each for a file sent; else a 422 naming the file and field."""
    if not text:
        return {}
    try:
        listings = listings_from_text(text)
    except ListingError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid listings: {exc}") from None
    if missing := unmatched(listings, [u.name for u in uploads]):
        shown = ", ".join(shown_name(name) for name in missing[:5])
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid listings: for files that were not sent: {shown}"
        )
    return listings


def check_webhook_url(url: str | None) -> str | None:
    """The webhook_url, or a 422 that says what is wrong with it (never echoing it: it may
    be anything up to the form field's megabyte)."""
    if not url:
        return None
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
    """Each file checked from its header: good ones carry their spool (a file object, read
    when the job is stored), bad ones their error."""
    s = settings()
    if not files:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "no files: send photos in the 'files' field")
    if len(files) > s.max_files:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, too_many_files(len(files), s.max_files))
    limit = int(s.max_upload_mb * 2**20)
    uploads: list[Upload] = []
    for n, upload in enumerate(files):
        name = file_name(upload, n)
        size = received(upload)
        if size > limit:
            uploads.append(
                Upload(
                    name,
                    error=f"file too large: {size / 2**20:.1f} MB; the limit is {s.max_upload_mb:g} MB",
                    error_code="too_large",
                )
            )
            continue
        try:
            check_header(upload.file, max_pixels=s.max_pixels, min_side=s.min_side)
        except ImageError as exc:
            uploads.append(Upload(name, error=str(exc), error_code=exc.code))
            continue
        uploads.append(StreamedUpload(name, stream=upload.file))
    return uploads


def fingerprint(
    options: Options, webhook_url: str | None, files: list[UploadFile], listings: dict[str, Listing] | None = None
) -> str:
    """The request's fingerprint (shared.engine.jobs.store.request_fingerprint) from what the
    parser counted and hashed of each file as it arrived (it hashes when the request has an
    Idempotency-Key; a file it did not hash is hashed here, from its spool)."""
    described = []
    for upload in files:
        if isinstance(upload, SpooledUpload) and upload.hashed:
            size, digest = upload.received, upload.digest.hexdigest()
        else:
            size, digest = _hash_file(upload)
        described.append((upload.filename or "", size, digest))
    return request_fingerprint(options, webhook_url, described, listings)


def received(upload: UploadFile) -> int:
    """The bytes sent for a file, those not kept past the limit included."""
    return upload.received if isinstance(upload, SpooledUpload) else upload.size or 0


def _hash_file(upload: UploadFile) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    upload.file.seek(0)
    while chunk := upload.file.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    upload.file.seek(0)
    return size, digest.hexdigest()


def too_many_files(count: int | str, most: int) -> str:
    return f"too many files: {count}; at most {most} per job (CATALOG_MAX_FILES)"


NAME_SHOWN = 100


def shown_name(name: str) -> str:
    return name if len(name) <= NAME_SHOWN else name[: NAME_SHOWN - 3] + "..."


def refusal(uploads: list[Upload]) -> tuple[int, Refusal]:
    """Status and body when no file could be accepted: the files' own status when they all
    failed the same way, else 422. Each file is named as sent, cut to NAME_SHOWN characters:
    enough to tell which, never a client's whole header echoed back."""
    codes = {u.error_code or "" for u in uploads}
    code = STATUS_OF.get(codes.pop(), 422) if len(codes) == 1 else 422
    files = [RefusedFile(name=shown_name(u.name), error=u.error, code=u.error_code) for u in uploads]
    detail = f"{files[0].name}: {files[0].error}" if len(files) == 1 else "no file of the job could be accepted"
    return code, Refusal(detail=detail, files=files)


# --- the request body, counted as it arrives --------------------------------------------------


class SpooledUpload(UploadFile):
    """A file of the form as UploadParser took it in: `received` counts every byte sent,
    `digest` hashes them (when the request has an Idempotency-Key: the fingerprint is its
    only use); past the per-file limit the bytes are counted and hashed but not kept
    (`over_limit`), so the file is refused without being spooled whole."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received = 0
        self.digest = hashlib.sha256()
        self.hashed = False  # whether digest covers the bytes received
        self.over_limit = False


class UploadParser(MultiPartParser):
    """Starlette's multipart parser, with each file counted, hashed and cut at the per-file
    limit as its bytes arrive, and the number of files held to CATALOG_MAX_FILES while the
    form is read (413 at the first file too many)."""

    def __init__(
        self, headers: Headers, stream: AsyncGenerator[bytes, None], *, file_limit: int, most_files: int, **limits: Any
    ) -> None:
        super().__init__(headers, stream, **limits)
        self.file_limit, self.most_files = file_limit, most_files
        self.hashing = "idempotency-key" in headers

    def on_headers_finished(self) -> None:
        super().on_headers_finished()
        part = self._current_part
        if part.file is not None:
            if self._current_files > self.most_files:
                raise HTTPException(
                    status.HTTP_413_CONTENT_TOO_LARGE, too_many_files(f"over {self.most_files}", self.most_files)
                )
            spool = part.file
            part.file = SpooledUpload(spool.file, size=0, filename=spool.filename, headers=spool.headers)
            part.file.hashed = self.hashing

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        upload = self._current_part.file
        if not isinstance(upload, SpooledUpload):
            super().on_part_data(data, start, end)
            return
        chunk = data[start:end]
        upload.received += len(chunk)
        if self.hashing:
            upload.digest.update(chunk)
        if upload.received > self.file_limit:
            upload.over_limit = True  # refused by read_uploads; the rest of it is not kept
            return
        self._file_parts_to_write.append((self._current_part, chunk))


class UploadRequest(Request):
    """A request whose multipart form is read by UploadParser."""

    def form(
        self, *, max_files: int | float = 1000, max_fields: int | float = 1000, max_part_size: int = 1024 * 1024
    ) -> AwaitableOrContextManager[FormData]:
        return AwaitableOrContextManagerWrapper(self._upload_form(max_fields, max_part_size))

    async def _upload_form(self, max_fields: int | float, max_part_size: int) -> FormData:
        if self._form is None:
            content_type, _ = parse_options_header(self.headers.get("Content-Type"))
            if content_type != b"multipart/form-data":
                return await self._get_form(max_fields=max_fields, max_part_size=max_part_size)
            s = settings()
            parser = UploadParser(
                self.headers,
                self.stream(),
                file_limit=int(s.max_upload_mb * 2**20),
                most_files=s.max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
            )
            try:
                self._form = await parser.parse()
            except MultiPartException as exc:
                raise HTTPException(status.HTTP_400_BAD_REQUEST, exc.message) from None
        return self._form


def request_too_large(size: str, limit_mb: float) -> str:
    return (
        f"request too large: {size}; the limit is {limit_mb:g} MB per request (CATALOG_MAX_REQUEST_MB): "
        "send the photos as several jobs"
    )


def limit_body(app: ASGIApp, limit_mb: float) -> ASGIApp:
    """A pure ASGI wrapper: a declared Content-Length over the limit is answered 413 before
    a byte is read; otherwise the body is counted as it arrives, and the first message past
    the limit raises a 413 (the form parser stops there: a chunked or lying request is never
    read whole). The connection is closed after either answer."""
    limit = int(limit_mb * 2**20)

    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            response = JSONResponse(
                {"detail": request_too_large(f"{int(declared) / 2**20:.1f} MB", limit_mb)},
                status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(
                        status.HTTP_413_CONTENT_TOO_LARGE,
                        request_too_large(f"over {limit_mb:g} MB", limit_mb),
                        headers={"Connection": "close"},
                    )
            return message

        await app(scope, counted, send)

    return limited


class UploadRoute(APIRoute):
    """The route of POST /v1/jobs: its body limited as it arrives (limit_body), its form
    read by UploadParser (UploadRequest)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await limit_body(super().handle, settings().max_request_mb)(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_upload_parser(request: Request) -> Response:
            owner_of_headers(request.headers)  # 401 before a byte of the body is read
            return await handler(UploadRequest(request.scope, request.receive))

        return with_upload_parser

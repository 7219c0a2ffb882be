"""A small client of the gateway's REST API (docs/api.md), used by `catalog submit`,
`catalog status` and `catalog fetch`.

    client = CatalogClient("http://127.0.0.1:8000", api_key)
    job = client.submit([Path("look.jpg")], {"aspect": "1:1"})
    job = client.wait(job.id, on_progress=print)
    client.download_archive(job.id, Path("my-catalog"))

Answers are parsed with the gateway's own response models (services.gateway.api_models).
"""

from __future__ import annotations

import mimetypes
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from services.gateway.api_models import ErrorBody, JobPublic, Refusal
from shared.engine.chain import JOB_ENDED

DEFAULT_URL = "http://127.0.0.1:8000"
ENDED = JOB_ENDED
Model = TypeVar("Model", bound=BaseModel)


class CatalogError(Exception):
    """A call the gateway refused (status is its HTTP status) or could not be made (None)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.message, self.status, self.body = message, status, body


def _message(response: httpx.Response) -> str:
    """The server's own words: FastAPI's `detail` (a string, or a list of field errors),
    plus the per-file reasons of a refused upload."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if not isinstance(body, dict):
        return str(body)
    if isinstance(body.get("detail"), list):  # FastAPI's validation errors: [{"loc": [...], "msg": ...}]
        return "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:]) or 'request'}: {e.get('msg')}"
            if isinstance(e, dict)
            else str(e)
            for e in body["detail"]
        )
    try:
        error = Refusal.model_validate(body) if "files" in body else ErrorBody.model_validate(body)
    except ValidationError:
        return str(body.get("detail", body))
    files = error.files if isinstance(error, Refusal) else []
    return "\n".join([error.detail] + [f"  {f.name}: {f.error}" for f in files])


class CatalogClient:
    def __init__(self, url: str = DEFAULT_URL, api_key: str | None = None, timeout: float = 60.0):
        self.url = url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        # retries: a failed *connection* is tried again (nothing was sent, so it is safe for
        # any method); an answer, even an error, is never repeated.
        self._http = httpx.Client(
            base_url=self.url, headers=headers, timeout=timeout, transport=httpx.HTTPTransport(retries=2)
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CatalogClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError as e:
            raise CatalogError(f"no Catalog gateway at {self.url}: start one with `make run` ({e})") from None
        except httpx.TimeoutException:
            raise CatalogError(f"the Catalog gateway at {self.url} did not answer in time") from None
        except httpx.HTTPError as e:
            raise CatalogError(f"talking to the Catalog gateway at {self.url} failed: {e}") from None
        if response.is_error:
            raise CatalogError(
                f"{_message(response)} (HTTP {response.status_code})", response.status_code, response.content
            )
        return response

    def _parse(self, response: httpx.Response, model: type[Model]) -> Model:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as e:
            raise CatalogError(
                f"the Catalog gateway at {self.url} gave an unexpected answer: {e}",
                response.status_code,
                response.content,
            ) from None

    # --- the API -------------------------------------------------------------------------

    def submit(
        self,
        paths: Iterable[Path],
        options: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
    ) -> JobPublic:
        """POST /v1/jobs with the photos; returns the accepted job. Options are the form
        fields of docs/api.md (lists are sent comma-separated)."""
        fields = {
            k: ",".join(v) if isinstance(v, (list, tuple)) else str(v)
            for k, v in (options or {}).items()
            if v is not None
        }
        if webhook_url:
            fields["webhook_url"] = webhook_url
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        with ExitStack() as files:
            uploads = [
                (
                    "files",
                    (
                        path.name,
                        files.enter_context(open(path, "rb")),
                        mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                    ),
                )
                for path in map(Path, paths)
            ]
            response = self._request("POST", "/v1/jobs", data=fields, files=uploads, headers=headers)
        return self._parse(response, JobPublic)

    def job(self, job_id: str) -> JobPublic:
        return self._parse(self._request("GET", f"/v1/jobs/{job_id}"), JobPublic)

    def wait(
        self,
        job_id: str,
        on_progress: Callable[[JobPublic], None] | None = None,
        interval: float = 1.0,
        timeout: float | None = None,
    ) -> JobPublic:
        """Poll the job until it has ended; on_progress gets the job after every poll."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if on_progress:
                on_progress(job)
            if job.finished or job.status in ENDED:
                return job
            if deadline is not None and time.monotonic() > deadline:
                raise CatalogError(f"job {job_id} has not ended after {timeout:.0f} s")
            time.sleep(interval)

    def download_archive(self, job_id: str, out_dir: Path) -> Path:
        """Fetch the job's ZIP and unpack it into out_dir (manifest.json, index.html, one
        folder per photo). Refuses the whole archive when a member would land outside."""
        out_dir = Path(out_dir)
        with tempfile.TemporaryFile() as tmp:
            try:
                with self._http.stream("GET", f"/v1/jobs/{job_id}/archive") as response:
                    if response.is_error:
                        response.read()
                        raise CatalogError(
                            f"{_message(response)} (HTTP {response.status_code})",
                            response.status_code,
                            response.content,
                        )
                    for chunk in response.iter_bytes():
                        tmp.write(chunk)
            except httpx.HTTPError as e:
                raise CatalogError(f"downloading the archive of job {job_id} failed: {e}") from None
            tmp.seek(0)
            try:
                extract(zipfile.ZipFile(tmp), out_dir)
            except zipfile.BadZipFile as e:
                raise CatalogError(f"the archive of job {job_id} is not a valid ZIP: {e}") from None
        return out_dir


def extract(archive: zipfile.ZipFile, out_dir: Path) -> None:
    """Unpack every member under out_dir; a member with an absolute path, a `..` that
    leaves out_dir, or a symbolic link stops the extraction before anything is written."""
    root = out_dir.resolve()
    targets = []
    for info in archive.infolist():
        name = info.filename
        target = (root / name).resolve()
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if name.startswith(("/", "\\")) or "\\" in name or is_link or not target.is_relative_to(root):
            raise CatalogError(f"unsafe path in the archive, nothing extracted: {name!r}")
        targets.append((info, target))
    root.mkdir(parents=True, exist_ok=True)
    for info, target in targets:
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)

"""What the REST API answers (docs/api.md), shared by the gateway (its response models) and
catalog.client (which parses answers with them).

Each model lists its fields itself: a field added to the stored Job (shared.engine.jobs.records)
stays internal until it is added here. This module imports only pydantic and shared/, so the
client reads answers without the gateway's app or FastAPI.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.domain.records import Options
from shared.engine.chain import ImageStatus, JobStatus, Stage
from shared.engine.jobs.records import Job, Progress, StageRun, WebhookState


class JobLinks(BaseModel):
    self: str  # GET /v1/jobs/{id}
    manifest: str
    archive: str
    page: str  # the job's web page


class ImagePublic(BaseModel):
    """One photo of a job: where it is in the chain, and why it failed."""

    # Read from a stored JobImage by attribute: only the fields named here are taken.
    model_config = ConfigDict(from_attributes=True)

    id: str
    source: str  # the uploaded file's name
    slug: str  # its folder in the catalog
    status: ImageStatus
    stage: Stage | None  # running or next; None once finished
    error: str | None
    error_code: str | None
    stages: dict[str, StageRun]
    updated: str


class JobPublic(BaseModel):
    """GET /v1/jobs/{id}, and the answer to POST /v1/jobs."""

    id: str
    status: JobStatus
    options: Options
    created: str
    updated: str
    finished: str | None
    webhook: WebhookState | None
    progress: Progress
    images: list[ImagePublic]
    links: JobLinks

    @classmethod
    def of(cls, job: Job, links: dict[str, str]) -> JobPublic:
        # Validated from the job's fields: those not declared above (owner, keys) are dropped.
        return cls.model_validate({**dict(job), "links": links}, from_attributes=True)


class JobSummary(BaseModel):
    """One job of GET /v1/jobs."""

    id: str
    status: JobStatus
    created: str
    updated: str
    finished: str | None
    progress: Progress
    sources: list[str]  # the photos' file names, in upload order
    links: JobLinks

    @classmethod
    def of(cls, job: Job, links: dict[str, str]) -> JobSummary:
        return cls(
            id=job.id,
            status=job.status,
            created=job.created,
            updated=job.updated,
            finished=job.finished,
            progress=job.progress,
            sources=[image.source for image in job.images],
            links=links,
        )


class JobList(BaseModel):
    """GET /v1/jobs: the caller's recent jobs, newest first."""

    jobs: list[JobSummary]


class ErrorBody(BaseModel):
    """An error: what went wrong, worded for the user. (FastAPI's own 422 for a malformed
    request has a list of field errors as `detail` instead.)"""

    detail: str


class RefusedFile(BaseModel):
    name: str
    error: str
    code: str  # ImageError.code: too_large, unsupported, empty, ...


class Refusal(ErrorBody):
    """POST /v1/jobs when no file could be accepted: each file with its reason."""

    files: list[RefusedFile]

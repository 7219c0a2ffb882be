"""What a job and its photos look like in the job store (Redis hashes, see shared.engine.jobs.keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from shared.domain.records import ImageRecord, Options
from shared.engine.chain import ImageStatus, JobStatus, Stage
from shared.engine.photo_state import PhotoState, photo_record


class StageRun(BaseModel):
    """One stage of one image: its last run."""

    status: Literal["running", "done", "failed"]
    attempts: int = 0  # starts, counting retries and redeliveries
    started: str | None = None
    finished: str | None = None
    ms: float | None = None  # the task's wall time: load, step, save
    worker: str | None = None  # Celery node name, e.g. "segment@host"
    pid: int | None = None  # the process that ran it
    models: list[str] = Field(default_factory=list)  # models loaded in that process afterwards


class JobImage(BaseModel):
    id: str
    source: str  # the uploaded file's name
    slug: str  # its folder in the catalog
    status: ImageStatus = "queued"
    stage: Stage | None = "detect"  # the stage running or next to run; None once finished
    error: str | None = None  # why it failed, worded for the user
    error_code: str | None = None  # ImageError.code, "timeout" or "internal"
    stages: dict[str, StageRun] = Field(default_factory=dict)
    updated: str
    state: PhotoState | None = Field(default=None, exclude=True)  # loaded on request only

    def record(self) -> ImageRecord | None:
        """The manifest record once the image has finished; None before."""
        if self.status == "ok" and self.state is not None:
            return photo_record(self.state, source=self.source)
        if self.status == "failed":
            st = self.state
            return ImageRecord(
                source=self.source,
                status="failed",
                error=self.error,
                width=st.width if st else None,
                height=st.height if st else None,
            )
        return None


class Progress(BaseModel):
    done: int
    total: int
    failed: int


class WebhookState(BaseModel):
    url: str
    status: Literal["pending", "delivered", "failed"] = "pending"
    attempts: int = 0
    error: str | None = None


class Job(BaseModel):
    id: str
    owner: str
    status: JobStatus
    options: Options
    created: str
    updated: str
    finished: str | None = None
    idempotency_key: str | None = None
    webhook_url: str | None = None
    webhook: WebhookState | None = None
    progress: Progress
    images: list[JobImage]


@dataclass
class Upload:
    """One file of a new job. A file the gateway already refused (error set) is recorded as
    failed at once, with its reason, and not stored."""

    name: str
    data: bytes | None = None
    error: str | None = None
    error_code: str | None = None


@dataclass
class Claim:
    """What a task should do with its stage: "run" it, "skip" (the image finished, was
    deleted, or is past this stage), "resend" the next stage's task (this one was
    redelivered after its result was saved), or "give_up" (too many attempts)."""

    action: Literal["run", "skip", "resend", "give_up"]
    image: JobImage | None = None

"""How a job and its photos are written into Redis hashes (shared.engine.jobs.keys) and read
back: every field a string."""

from __future__ import annotations

import json

from shared.domain.records import Options
from shared.engine.jobs.records import Job, JobImage, Progress, StageRun, WebhookState
from shared.engine.photo_state import PhotoState

# What a listing or a progress poll needs of a photo: no state, no record.
LIGHT_FIELDS = ("id", "source", "slug", "status", "stage", "error", "error_code", "stages", "updated")


def dump_stages(stages: dict[str, StageRun]) -> str:
    return json.dumps({k: v.model_dump() for k, v in stages.items()})


def image_fields(image: JobImage) -> dict[str, str]:
    record = image.record()
    return {
        "id": image.id,
        "source": image.source,
        "slug": image.slug,
        "status": image.status,
        "stage": image.stage or "",
        "error": image.error or "",
        "error_code": image.error_code or "",
        "stages": dump_stages(image.stages),
        "updated": image.updated,
        "state": image.state.model_dump_json() if image.state else "",
        "record": record.model_dump_json() if record else "",
    }


def parse_image(raw: dict) -> JobImage:
    state = raw.get("state")
    return JobImage(
        id=raw["id"],
        source=raw["source"],
        slug=raw["slug"],
        status=raw["status"],
        stage=raw.get("stage") or None,
        error=raw.get("error") or None,
        error_code=raw.get("error_code") or None,
        stages={k: StageRun(**v) for k, v in json.loads(raw.get("stages") or "{}").items()},
        updated=raw["updated"],
        state=PhotoState.model_validate_json(state) if state else None,
    )


def parse_job(raw: dict, images: list[JobImage]) -> Job:
    return Job(
        id=raw["id"],
        owner=raw["owner"],
        status=raw["status"],
        options=Options.model_validate_json(raw["options"]),
        created=raw["created"],
        updated=raw["updated"],
        finished=raw.get("finished") or None,
        idempotency_key=raw.get("idempotency_key") or None,
        webhook_url=raw.get("webhook_url") or None,
        webhook=WebhookState(
            url=raw["webhook_url"],
            status=raw.get("webhook_status") or "pending",
            attempts=int(raw.get("webhook_attempts") or 0),
            error=raw.get("webhook_error") or None,
        )
        if raw.get("webhook_url")
        else None,
        progress=Progress(done=int(raw["done"]), total=int(raw["total"]), failed=int(raw["failed"])),
        images=images,
    )

"""The chain of stages, declared once: which stage follows which, on which queue, under which
task name, and when a photo or a job has ended.

    person photo:   detect -> pose -> segment -> color
    product photo:  detect ---------> segment -> color

detect decides whether a photo may show people; pose confirms them with the body landmarks
(a photo where pose finds no body goes on as a product). Each stage is one Celery task,
`catalog.<stage>`, on the queue of the service of the same name, and runs the steps STEPS
names for it (shared.engine.stage.run_stage_steps), in a worker or in the in-process runner.
This module imports nothing heavy: the gateway, the workers and the tools all read it.
"""

from __future__ import annotations

from typing import Literal

Stage = Literal["detect", "pose", "segment", "color"]
STAGES: tuple[Stage, ...] = ("detect", "pose", "segment", "color")
Kind = Literal["person", "product"]

# What follows each stage: detect sends a photo that may show people to pose, any other to
# segment; pose sends every photo on to segment, as a person or (no body found) a product.
FOLLOWS: dict[Stage, dict[Kind, Stage | None]] = {
    "detect": {"person": "pose", "product": "segment"},
    "pose": {"person": "segment", "product": "segment"},
    "segment": {"person": "color", "product": "color"},
    "color": {"person": None, "product": None},
}
FIRST_STAGE: Stage = "detect"

# What each stage runs, in order: "module:function" of a step (a function of the photo's
# StepContext), imported on first use, so a worker imports only its own stage's code and
# loads only its models. The color stage then writes the photo's catalog files and checks
# its listing, where it has one.
STEPS: dict[Stage, tuple[str, ...]] = {
    "detect": ("services.detect.step:run",),
    "pose": ("services.pose.step:run",),
    "segment": ("services.segment.step:run",),
    "color": ("services.color.step:run", "shared.engine.catalog_files:write", "shared.engine.listing_step:run"),
}

# One queue per service, named after its stage, and one of its own for the webhook calls:
# a receiver slow to answer waits there, holding up no stage (services/webhooks).
WEBHOOK_TASK = "catalog.webhook"
WEBHOOK_QUEUE = "webhooks"
QUEUES: tuple[str, ...] = (*STAGES, WEBHOOK_QUEUE)

ImageStatus = Literal["queued", "running", "ok", "failed"]
JobStatus = Literal["queued", "running", "succeeded", "partial", "failed"]
IMAGE_ENDED: tuple[ImageStatus, ...] = ("ok", "failed")
JOB_ENDED: tuple[JobStatus, ...] = ("succeeded", "partial", "failed")


def task_name(stage: Stage) -> str:
    return f"catalog.{stage}"


def queue_of(stage: Stage) -> str:
    return stage


def next_stage(kind: Kind | None, done: list[Stage], after: Stage) -> Stage | None:
    """The stage that follows `after` for a photo of this kind (None at the end). A stage the
    photo already passed is followed by what followed it then (pose may have changed the
    kind since), so a redelivered task resends the very stage that came next."""
    if after in done and done.index(after) + 1 < len(done):
        return done[done.index(after) + 1]
    if kind is None:
        raise ValueError(f"the kind of the photo is not known after {after}")
    return FOLLOWS[after][kind]

"""The Celery app: broker and results on Redis, one queue per service.

    queue     tasks                            service (worker entry point)
    detect    catalog.detect, catalog.classify services/detect/tasks.py
    pose      catalog.pose                     services/pose/tasks.py
    segment   catalog.segment                  services/segment/tasks.py
    color     catalog.color, catalog.webhook   services/color/tasks.py, shared/webhooks.py

A worker consumes one queue:

    celery -A shared.celery_app worker -Q segment --concurrency 1 --prefetch-multiplier 1 -n segment@%h

Every worker imports the four small task modules (`include`), so any worker could run any
task and one worker can serve all queues in development (-Q detect,pose,segment,color);
the models are loaded lazily by shared.models on first use, once per worker process, so a
worker loads only the models of the stages it runs (its queue's). Tasks send the next
stage by name (shared.dispatch), never by importing another service's module.

Long ML tasks: late acks and requeue when the worker process dies (a task is never lost
with its worker), prefetch 1 (a busy worker holds no waiting task), soft and hard time
limits (CATALOG_TASK_SOFT_TIME_LIMIT / CATALOG_TASK_TIME_LIMIT), and the broker's
visibility timeout above the hard limit, so a running task is not handed out twice.
Retries: see shared.worker.
"""

from __future__ import annotations

from celery import Celery

from shared.schemas import Stage
from shared.settings import settings

QUEUES = ("detect", "pose", "segment", "color")
STAGE_QUEUES: dict[Stage, str] = {
    "detect": "detect", "pose": "pose", "segment": "segment", "classify": "detect", "color": "color",
}
TASK_MODULES = ("services.detect.tasks", "services.pose.tasks", "services.segment.tasks", "services.color.tasks",
                "shared.webhooks")
# The webhook call of a finished job (shared.webhooks) is light: the color workers make it.
WEBHOOK_QUEUE = "color"


def task_name(stage: Stage) -> str:
    return f"catalog.{stage}"


def make_app(redis_url: str | None = None) -> Celery:
    """A Celery app on the given Redis (default: CATALOG_REDIS_URL)."""
    s = settings()
    url = redis_url or s.redis_url
    app = Celery("catalog", broker=url, backend=url, include=list(TASK_MODULES))
    app.conf.update(
        task_routes={**{task_name(stage): {"queue": queue} for stage, queue in STAGE_QUEUES.items()},
                     "catalog.webhook": {"queue": WEBHOOK_QUEUE}},
        task_serializer="json", result_serializer="json", accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=s.task_soft_time_limit or None,  # 0: off
        task_time_limit=s.task_time_limit or None,
        # Unacked tasks of a worker that vanished are handed out again after this long.
        broker_transport_options={"visibility_timeout": (s.task_time_limit or 3600) + 300},
        result_expires=24 * 3600,
        task_track_started=True,
        worker_send_task_events=True,  # for Flower
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
    )
    return app


app = make_app()

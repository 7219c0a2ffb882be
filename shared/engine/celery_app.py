"""The Celery app: broker and results on Redis, one queue per service (shared.engine.chain).

    queue     task                             worker entry point
    detect    catalog.detect                   celery -A services.detect.tasks worker -Q detect
    pose      catalog.pose                     celery -A services.pose.tasks worker -Q pose
    segment   catalog.segment                  celery -A services.segment.tasks worker -Q segment
    color     catalog.color                    celery -A services.color.tasks worker -Q color
    webhooks  catalog.webhook                  celery -A services.webhooks.tasks worker -Q webhooks

Each service's task module (the one its worker runs) registers its stage's task on this app,
and the task runs the steps the chain names for the stage, imported when it first runs: a
worker imports only its own stage and loads only its own models; `-A services.tasks` serves
every queue in one worker (development). Tasks send the next stage by name (shared.engine.dispatch), never by
importing another service.

Long ML tasks: late acks and requeue when the worker process dies (a task is never lost
with its worker), prefetch 1 (a busy worker holds no waiting task), soft and hard time
limits (CATALOG_TASK_SOFT_TIME_LIMIT / CATALOG_TASK_TIME_LIMIT), and the broker's
visibility timeout above the hard limit, so a running task is not handed out twice.
Retries: see shared.engine.worker.
"""

from __future__ import annotations

from celery import Celery

from shared.engine.chain import STAGES, WEBHOOK_QUEUE, WEBHOOK_TASK, queue_of, task_name
from shared.infra.logs import configure_celery_logging
from shared.infra.settings import settings


def make_app(redis_url: str | None = None) -> Celery:
    """A Celery app on the given Redis (default: CATALOG_REDIS_URL)."""
    s = settings()
    url = redis_url or s.redis_url
    app = Celery("catalog", broker=url, backend=url)
    app.conf.update(
        task_routes={
            **{task_name(stage): {"queue": queue_of(stage)} for stage in STAGES},
            WEBHOOK_TASK: {"queue": WEBHOOK_QUEUE},
        },
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
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
        worker_hijack_root_logger=False,  # shared.infra.logs formats every line
    )
    return app


configure_celery_logging()
app = make_app()

"""The color worker: the Celery task of the color stage, which finishes each photo (and, for
a job's last photo, the job, queueing its webhook call on `webhooks`), on the queue `color`.

    celery -A services.color.tasks worker -Q color --concurrency 1 --prefetch-multiplier 1 -n color@%h
"""

from shared.engine.celery_app import app
from shared.engine.worker import stage_task

__all__ = ["app", "color"]  # the app `celery -A` runs, and its task

color = stage_task("color")

"""The color worker: the Celery task of the color stage, which finishes each photo (and, for
a job's last photo, the job), and the webhook call of a finished job, on the queue `color`.

    celery -A services.color.tasks worker -Q color --concurrency 1 --prefetch-multiplier 1 -n color@%h
"""

from shared.engine.celery_app import app
from shared.engine.webhooks import webhook_task
from shared.engine.worker import stage_task

__all__ = ["app", "color", "webhook"]  # the app `celery -A` runs, and its tasks

color = stage_task("color")
webhook = webhook_task()

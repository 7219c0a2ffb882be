"""The color service's Celery tasks (queue `color`): the colour step, which finishes each
photo (and, for a job's last photo, the job), and the webhook call of a finished job.

    celery -A services.color.tasks worker -Q color --concurrency 1 --prefetch-multiplier 1 -n color@%h
"""

from services.color import step  # noqa: F401  (registers the color step)
from shared import webhooks  # noqa: F401  (registers catalog.webhook, which rides on this queue)
from shared.celery_app import app  # noqa: F401  (the app `celery -A` runs)
from shared.worker import stage_task

color = stage_task("color")

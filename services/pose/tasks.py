"""The pose service's Celery task (queue `pose`):

celery -A services.pose.tasks worker -Q pose --concurrency 1 --prefetch-multiplier 1 -n pose@%h
"""

from services.pose import step  # noqa: F401  (registers the pose step)
from shared.celery_app import app  # noqa: F401  (the app `celery -A` runs)
from shared.worker import stage_task

pose = stage_task("pose")

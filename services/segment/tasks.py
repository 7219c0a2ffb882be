"""The segment service's Celery task (queue `segment`):

celery -A services.segment.tasks worker -Q segment --concurrency 1 --prefetch-multiplier 1 -n segment@%h
"""

from services.segment import step  # noqa: F401  (registers the segment step)
from shared.celery_app import app  # noqa: F401  (the app `celery -A` runs)
from shared.worker import stage_task

segment = stage_task("segment")

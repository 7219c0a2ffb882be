"""The segment worker: the Celery task of the segment stage, on its own queue.

celery -A services.segment.tasks worker -Q segment --concurrency 1 --prefetch-multiplier 1 -n segment@%h
"""

from shared.engine.celery_app import app
from shared.engine.worker import stage_task

__all__ = ["app", "segment"]  # the app `celery -A` runs, and its task

segment = stage_task("segment")

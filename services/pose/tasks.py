"""The pose worker: the Celery task of the pose stage, on its own queue.

celery -A services.pose.tasks worker -Q pose --concurrency 1 --prefetch-multiplier 1 -n pose@%h
"""

from shared.engine.celery_app import app
from shared.engine.worker import stage_task

__all__ = ["app", "pose"]  # the app `celery -A` runs, and its task

pose = stage_task("pose")

"""The detect worker: the Celery task of the detect stage, on its own queue.

celery -A services.detect.tasks worker -Q detect --concurrency 1 --prefetch-multiplier 1 -n detect@%h
"""

from shared.engine.celery_app import app
from shared.engine.worker import stage_task

__all__ = ["app", "detect"]  # the app `celery -A` runs, and its task

detect = stage_task("detect")

"""The detect service's Celery task (queue `detect`):

celery -A services.detect.tasks worker -Q detect --concurrency 1 --prefetch-multiplier 1 -n detect@%h
"""

from services.detect import step  # noqa: F401  (registers the detect step)
from shared.celery_app import app  # noqa: F401  (the app `celery -A` runs)
from shared.worker import stage_task

detect = stage_task("detect")

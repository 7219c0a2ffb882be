"""Every stage's task and the webhook call, for one worker that serves every queue
(development, tests):

    celery -A services.tasks worker -Q detect,pose,segment,color,webhooks
"""

from shared.engine.celery_app import app
from shared.engine.webhooks import webhook_task
from shared.engine.worker import stage_task

__all__ = ["app", "color", "detect", "pose", "segment", "webhook"]  # the app `celery -A` runs, and its tasks

detect = stage_task("detect")
pose = stage_task("pose")
segment = stage_task("segment")
color = stage_task("color")
webhook = webhook_task()

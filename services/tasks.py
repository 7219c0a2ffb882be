"""Every stage's task, for one worker that serves several queues (development, tests):

celery -A services.tasks worker -Q detect,pose,segment,color
"""

from services.color.tasks import color
from services.detect.tasks import detect
from services.pose.tasks import pose
from services.segment.tasks import segment
from shared.celery_app import app

__all__ = ["app", "color", "detect", "pose", "segment"]

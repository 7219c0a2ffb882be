"""Celery task of the pose service (queue `pose`): garment boxes from the keypoints that
detect found (no model runs here: detect's keypoints are reused)."""

from shared.worker import stage_task

pose = stage_task("pose")

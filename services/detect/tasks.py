"""Celery tasks of the detect service (queue `detect`): person-or-product detection, and
classification of garments and products. Models: BlazePose, the selfie matte, EfficientNet."""

from shared.worker import stage_task

detect = stage_task("detect")
classify = stage_task("classify")

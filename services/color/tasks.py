"""Celery task of the color service (queue `color`): dominant colour, palette and swatch per
item, and the catalog files; it finishes the image (and, for the last image, the job)."""

from shared.worker import stage_task

color = stage_task("color")

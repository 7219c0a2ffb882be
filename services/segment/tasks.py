"""Celery task of the segment service (queue `segment`): the ISNet matte, the person matte
for garments, product instances and their cutouts."""

from shared.worker import stage_task

segment = stage_task("segment")

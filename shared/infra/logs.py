"""Log lines that say which job and which photo they are about.

Every line of the gateway and the workers carries `job` and `image` (a dash when a line is
about neither). CATALOG_LOG_FORMAT=json writes one JSON object per line (time, level,
logger, job, image, message, and the traceback when there is one); the default is text.

    with photo_context(job_id, image_id):
        log.info("segment done")   # ... job=3f2a... image=0 segment done
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

# One mutable holder per context: code running in a copy of the context (a thread pool's
# worker) can still name the job it created, and the request's later lines carry it.
_about: ContextVar[dict[str, str] | None] = ContextVar("catalog_log_about", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s job=%(job)s image=%(image)s %(message)s"


@contextmanager
def photo_context(job_id: str | None = None, image_id: str | None = None) -> Iterator[dict[str, str]]:
    """Lines logged inside carry this job and photo; the holder can be filled in later."""
    about = {k: v for k, v in (("job", job_id), ("image", image_id)) if v}
    token = _about.set(about)
    try:
        yield about
    finally:
        _about.reset(token)


def about_job(job_id: str) -> None:
    """Name the job the current context's lines are about (e.g. once it is created)."""
    about = _about.get()
    if about is not None:
        about["job"] = job_id


# Celery's own lines about a task (received, succeeded, failed, worker lost) carry the
# task's arguments in `data`: a stage task's are (job id, image id), a webhook's (job id,).
_TASK_ARGS = re.compile(r"^[\[(]'([0-9a-f]{32})'(?:, '([^']*)')?")


def _from_task_args(record: logging.LogRecord) -> dict[str, str]:
    data = getattr(record, "data", None)
    match = _TASK_ARGS.match(str(data.get("args", ""))) if isinstance(data, dict) else None
    if not match:
        return {}
    return {"job": match[1], **({"image": match[2]} if match[2] is not None else {})}


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        about = _about.get() or _from_task_args(record)
        record.job = getattr(record, "job", None) or about.get("job", "-")
        record.image = getattr(record, "image", None) or about.get("image", "-")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "job": getattr(record, "job", "-"),
            "image": getattr(record, "image", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: int | str = logging.INFO) -> None:
    """One handler on the root logger, with the job and photo on every line; the loggers of
    uvicorn and Celery send their lines through it too."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if os.environ.get("CATALOG_LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "celery.task", "celery.worker"):
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [], True


def configure_celery_logging() -> None:
    """Workers log through configure_logging instead of Celery's own set-up, and each task's
    lines (Celery's included) name the job and photo of its arguments."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    tokens: dict[str, Token] = {}

    @setup_logging.connect(weak=False)
    def _setup(loglevel: int | str | None = None, **_: Any) -> None:
        configure_logging(loglevel or logging.INFO)

    @task_prerun.connect(weak=False)
    def _enter(task_id: str = "", args: tuple = (), **_: Any) -> None:
        ids = [str(a) for a in (args or ())[:2]]
        tokens[task_id] = _about.set(dict(zip(("job", "image"), ids)))

    @task_postrun.connect(weak=False)
    def _leave(task_id: str = "", **_: Any) -> None:
        if token := tokens.pop(task_id, None):
            _about.reset(token)

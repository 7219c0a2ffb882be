"""Every log line of a request about a job carries the job's id, uvicorn's access line too.

A pure ASGI middleware (not BaseHTTPMiddleware): it runs the rest of the app, and the
server's `send`, where uvicorn writes the access line, inside shared.infra.logs.photo_context."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.infra.logs import photo_context

# /v1/jobs/<id>..., the job's web page /jobs/<id>; nothing else names a job.
JOB_PATH = re.compile(r"^/(?:v1/)?jobs/([0-9a-f]{32})(?:/|$)")


class JobLogContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        match = JOB_PATH.match(scope["path"])
        # Entered without a job too: POST /v1/jobs names its new job later (about_job).
        with photo_context(match.group(1) if match else None):
            await self.app(scope, receive, send)

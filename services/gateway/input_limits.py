"""What bad input gets back: an answer that says what was wrong and echoes none of it.

- FastAPI's own 422 (a field missing, too long, of the wrong type) lists each error with the
  `input` it refused, which may be a whole form part: here each error keeps its type,
  location and message only, each cut short.
- A JSON request body is read whole (it is small) before any parser sees it: over
  CATALOG_MAX_JSON_KB it is a 413, nested deeper than CATALOG_MAX_JSON_DEPTH a 422, never the
  parser's RecursionError (a 500). A style guide's upload (POST /v1/styles, JSON or YAML)
  is left to its own reader and limits (services.gateway.styles_api).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.infra.settings import settings

MAX_ERRORS = 20  # a body can fail in many places; the first ones say enough
MAX_TEXT = 200  # characters of a message, or of one part of a location


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "..."
    return value


def described(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's field errors without their input (nor its context, which may quote it)."""
    return [
        {"type": e.get("type"), "loc": [_short(part) for part in e.get("loc", ())], "msg": _short(e.get("msg", ""))}
        for e in list(errors)[:MAX_ERRORS]
    ]


def add_input_error_handler(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_input(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": described(exc.errors())}, status_code=422)


# Strings (escapes included) are taken out before the brackets are counted: a "[" in a
# string nests nothing.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def nesting(body: bytes) -> int:
    """How deep the JSON text's arrays and objects nest (at most: a malformed text is left
    to the parser, which says so)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def is_json(headers: Headers) -> bool:
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class JsonLimits:
    """Pure ASGI: a JSON body, counted as it arrives and checked whole, then handed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"  # the lifespan's scope has no headers: it must pass untouched
            or not is_json(Headers(scope=scope))
            or (scope["method"] == "POST" and scope["path"].rstrip("/") == "/v1/styles")
        ):
            await self.app(scope, receive, send)
            return
        s = settings()
        limit = s.max_json_kb * 1024
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                detail = f"JSON body too large: over {s.max_json_kb} KB (CATALOG_MAX_JSON_KB)"
                await JSONResponse({"detail": detail}, 413, {"Connection": "close"})(scope, receive, send)
                return
        if (depth := nesting(body)) > s.max_json_depth:
            detail = f"JSON body nested {depth} deep; at most {s.max_json_depth} (CATALOG_MAX_JSON_DEPTH)"
            await JSONResponse({"detail": detail}, 422)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

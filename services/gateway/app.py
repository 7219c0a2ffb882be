"""The gateway: the REST API (docs/api.md), the web page, health and metrics.

    python -m services.gateway.serve --host 0.0.0.0 --port 8000    (uvicorn, with the connection limits)

It takes uploads, stores them and queues their first stage; the workers do the rest
(shared.engine.worker). It loads no model, so it starts fast and scales on its own.
"""

from __future__ import annotations

import copy
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import redis
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import validation_error_definition, validation_error_response_definition
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.api_models import ErrorBody
from services.gateway.headers import SecurityHeaders, TrustedHosts, docs_page, host_policy
from services.gateway.input_limits import JsonLimits, add_input_error_handler
from services.gateway.jobs_api import router as jobs_router
from services.gateway.log_context import JobLogContext
from services.gateway.storage_errors import RETRY_AFTER
from services.gateway.styles_api import router as styles_router
from services.gateway.sweeper import start_sweeper
from shared.engine.chain import QUEUES
from shared.engine.jobs.store import job_store
from shared.engine.metrics import ClusterCollector
from shared.infra.logs import configure_logging
from shared.infra.settings import settings

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "index.html"


@asynccontextmanager
async def sweeping(app: FastAPI) -> AsyncIterator[None]:
    """The sweeper runs beside the gateway (services.gateway.sweeper): no photo stays stuck."""
    stop = start_sweeper()
    yield
    if stop is not None:
        stop.set()


class Gateway(FastAPI):
    """FastAPI with the security headers around its whole stack, so that every response has
    them, FastAPI's own answer to an unexpected error (500) too."""

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())

    def openapi(self) -> dict[str, Any]:
        schema = self.openapi_schema
        if schema is None:
            schema = super().openapi()
            declare_input_errors(schema)
        return schema


def declare_input_errors(schema: dict[str, Any]) -> None:
    """The answers to malformed input, on every operation that takes input: FastAPI declares
    its own 422 (`detail`, a list of field errors) only where a route declares no 422 of its
    own; where one does (POST /v1/jobs: a refused upload or a bad option), the document gets
    both bodies. A form body that cannot be parsed at all (no boundary, a part without a
    name, a field over 1 MB, too many fields) is a 400 with a `detail`."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ValidationError", copy.deepcopy(validation_error_definition))
    schemas.setdefault("HTTPValidationError", copy.deepcopy(validation_error_response_definition))
    schemas.setdefault("ErrorBody", ErrorBody.model_json_schema())
    ref = {"$ref": "#/components/schemas/HTTPValidationError"}
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or not (operation.get("parameters") or operation.get("requestBody")):
                continue
            responses = operation.setdefault("responses", {})
            declared = responses.setdefault("422", {"description": "Validation Error"})
            for media in declared.setdefault("content", {"application/json": {}}).values():
                body = media.get("schema")
                if body is None:
                    media["schema"] = ref
                elif body != ref and ref not in body.get("anyOf", []):
                    alternatives = body["anyOf"] if set(body) == {"anyOf"} else [body]
                    media["schema"] = {"anyOf": [*alternatives, ref]}
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content or "application/x-www-form-urlencoded" in content:
                responses.setdefault(
                    "400",
                    {
                        "description": "The form could not be parsed",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    },
                )


def create_app() -> FastAPI:
    app = Gateway(
        title="Catalog",
        summary="Turns raw product and fashion photos into a catalog: crops, cutouts, categories, colours.",
        version="1.0.0",
        lifespan=sweeping,
        docs_url=None,  # add_docs: the same pages, with their Content-Security-Policy
        redoc_url=None,
    )
    app.include_router(jobs_router)
    app.include_router(styles_router)
    add_docs(app)
    app.add_middleware(JsonLimits)  # innermost: only requests that got past the Host check
    add_input_error_handler(app)
    # Inside the metrics middleware (a refused Host is counted); links never name an
    # untrusted Host (services.gateway.headers).
    app.add_middleware(TrustedHosts, policy=host_policy())
    add_metrics(app)
    add_error_handlers(app)
    # Added last, so outermost: the metrics middleware and the access line run inside it.
    app.add_middleware(JobLogContext)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    def healthz():
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Redis and the blob store are reachable",
        responses={
            200: {"model": Readiness, "description": "Ready"},
            503: {"model": Readiness, "description": "Redis or the blob store out of reach, and why"},
        },
    )
    def readyz():
        store, problems = job_store(), {}
        try:
            store.redis.ping()
        except redis.RedisError as exc:
            problems["redis"] = f"{type(exc).__name__}: {exc}"
        try:
            store.blobs.check()
        except Exception as exc:  # any storage fault means: not ready
            problems["storage"] = f"{type(exc).__name__}: {exc}"
        if problems:
            return JSONResponse({"status": "unavailable", **problems}, status_code=503)
        return {"status": "ready"}

    # The web page: one HTML file for the upload page and every job's page.
    app.mount("/static", PageFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def home():
        return FileResponse(PAGE, headers=REVALIDATE)

    @app.get("/jobs/{job_id}", include_in_schema=False)
    def job_page(job_id: str):
        return FileResponse(PAGE, headers=REVALIDATE)

    return app


class Readiness(BaseModel):
    """/readyz: `ready`, or `unavailable` with what failed."""

    status: Literal["ready", "unavailable"]
    redis: str | None = None
    storage: str | None = None


# The page's files are small: browsers ask again each time (a 304 when unchanged), so an
# updated gateway's page is seen at once.
REVALIDATE = {"Cache-Control": "no-cache"}


class PageFiles(StaticFiles):
    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(REVALIDATE)
        return response


# The labels of the HTTP series come from fixed sets, whatever a client sends: a made-up
# method is "other", a path no route matches "unmatched", an unusual status its class.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUSES = frozenset(
    {200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 413, 415, 416, 422, 429}
    | {500, 502, 503, 504}
)


def method_label(method: str) -> str:
    return method if method in METHODS else "other"


def route_label(scope: Scope) -> str:
    """The matched route's template (/v1/jobs/{job_id}), not the path: one series per endpoint;
    a mounted app (/static) by its mount's path."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str) and path:
        return path
    endpoint = scope.get("endpoint")
    for route in getattr(scope.get("app"), "routes", ()):
        if isinstance(route, Mount) and endpoint is not None and route.app is endpoint:
            return route.path
    return "unmatched"


def status_label(status: int) -> str:
    if status in STATUSES:
        return str(status)
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


class Measure:
    """Counts each request and times it to its answer's first line (pure ASGI: streamed
    files pass through as they are). A request that raised counts as the 500 it gets."""

    def __init__(self, app: ASGIApp, requests: Counter, latency: Histogram) -> None:
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, elapsed = time.perf_counter(), 500, None

        async def send_measured(message: Message) -> None:
            nonlocal status, elapsed
            if message["type"] == "http.response.start":
                status, elapsed = message["status"], time.perf_counter() - start
            await send(message)

        try:
            await self.app(scope, receive, send_measured)
        finally:
            method, route = method_label(scope["method"]), route_label(scope)
            self.requests.labels(method, route, status_label(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - start if elapsed is None else elapsed)


def metrics_key_ok(request: Request, key: str) -> bool:
    """`Authorization: Bearer <key>` (Prometheus's scrape `authorization`) or X-API-Key."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = request.headers.get("x-api-key", "").strip() or (token.strip() if scheme.lower() == "bearer" else "")
    return bool(given) and hmac.compare_digest(given.encode(), key.encode())


def add_metrics(app: FastAPI) -> None:
    """Request counts and latencies of this process, and the cluster's figures from Redis."""
    registry = CollectorRegistry()
    requests = Counter(
        "catalog_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "catalog_http_request_duration_seconds",
        "Time to answer an HTTP request.",
        ["method", "route"],
        registry=registry,
    )
    store = job_store()
    registry.register(ClusterCollector(store.redis, store.ns, QUEUES))

    app.add_middleware(Measure, requests=requests, latency=latency)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"},
            401: {"model": ErrorBody, "description": "CATALOG_METRICS_KEY is set and this is not it"},
            503: {"model": ErrorBody, "description": "Redis is out of reach: try again"},
        },
    )
    def metrics(request: Request):
        key = settings().metrics_key
        if key and not metrics_key_ok(request, key):
            body = ErrorBody(detail="/metrics needs the metrics key: send Authorization: Bearer <CATALOG_METRICS_KEY>")
            return JSONResponse(body.model_dump(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def add_docs(app: FastAPI) -> None:
    """FastAPI's OpenAPI pages (/docs, Swagger UI; /redoc), each with a CSP that allows its
    own inline script by hash and its CDN."""

    def openapi_url(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/") + (app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request):
        page = get_swagger_ui_html(
            openapi_url=openapi_url(request),
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=request.scope.get("root_path", "").rstrip("/") + "/docs/oauth2-redirect",
        )
        return docs_page(page)

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def swagger_ui_redirect():
        return docs_page(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request):
        return docs_page(get_redoc_html(openapi_url=openapi_url(request), title=f"{app.title} - ReDoc"))


def add_error_handlers(app: FastAPI) -> None:
    """Redis out of reach: 503 with what is wrong, not a 500. Nearly every route reaches Redis, so
    this is app-wide; the blob store's faults are turned into 503 where it is called
    (services.gateway.storage_errors)."""

    @app.exception_handler(redis.RedisError)
    async def redis_down(request: Request, exc: redis.RedisError):
        log.warning("Redis failed: %s", exc)  # its address is the operator's to read, not the caller's
        body = ErrorBody(detail=f"the job store (Redis) is unavailable ({type(exc).__name__}); try again")
        return JSONResponse(body.model_dump(), status_code=503, headers=RETRY_AFTER)


# uvicorn has set up its loggers before it imports this module: route them, and ours, through
# one handler that puts the job's id on every line (CATALOG_LOG_FORMAT=json for JSON lines).
configure_logging()
app = create_app()

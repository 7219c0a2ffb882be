"""The gateway: the REST API (docs/api.md), the web page, health and metrics.

    uvicorn services.gateway.app:app --host 0.0.0.0 --port 8000

It takes uploads, stores them and queues their first stage; the workers do the rest
(shared.worker). It loads no model, so it starts fast and scales on its own.
"""

from __future__ import annotations

import time
from pathlib import Path

import redis
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from services.gateway.jobs_api import router as jobs_router
from services.gateway.log_context import JobLogContext
from services.gateway.storage_errors import RETRY_AFTER
from shared.api_models import ErrorBody
from shared.chain import QUEUES
from shared.jobs.store import job_store
from shared.logs import configure_logging
from shared.metrics import ClusterCollector

STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "index.html"


def create_app() -> FastAPI:
    app = FastAPI(
        title="Catalog",
        summary="Turns raw product and fashion photos into a catalog: crops, cutouts, categories, colours.",
        version="1.0.0",
    )
    app.include_router(jobs_router)
    add_metrics(app)
    add_error_handlers(app)
    # Added last, so outermost: the metrics middleware and the access line run inside it.
    app.add_middleware(JobLogContext)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Redis and the blob store are reachable")
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


# The page's files are small: browsers ask again each time (a 304 when unchanged), so an
# updated gateway's page is seen at once.
REVALIDATE = {"Cache-Control": "no-cache"}


class PageFiles(StaticFiles):
    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(REVALIDATE)
        return response


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

    @app.middleware("http")
    async def measure(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route's template (/v1/jobs/{job_id}), not the path: one series per endpoint.
        name = getattr(route, "path", "unmatched")
        requests.labels(request.method, name, str(response.status_code)).inc()
        latency.labels(request.method, name).observe(time.perf_counter() - start)
        return response

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    def metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def add_error_handlers(app: FastAPI) -> None:
    """Redis out of reach: 503 with what is wrong, not a 500. Nearly every route reaches Redis, so
    this is app-wide; the blob store's faults are turned into 503 where it is called
    (services.gateway.storage_errors)."""

    @app.exception_handler(redis.RedisError)
    async def redis_down(request: Request, exc: redis.RedisError):
        body = ErrorBody(detail=f"the job store (Redis) is unavailable: {exc}; try again")
        return JSONResponse(body.model_dump(), status_code=503, headers=RETRY_AFTER)


# uvicorn has set up its loggers before it imports this module: route them, and ours, through
# one handler that puts the job's id on every line (CATALOG_LOG_FORMAT=json for JSON lines).
configure_logging()
app = create_app()

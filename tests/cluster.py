"""A real local cluster for tests: its own redis-server, Celery worker processes, and
optionally a local S3-compatible server (moto). Everything runs on 127.0.0.1 and every
process started here is stopped by the code that started it.

    with running_redis(tmp) as redis_url:
        with running_workers(redis_url, storage_url, logs, [("detect",), ("pose",), ...]) as cluster:
            with running_gateway(cluster.env, logs) as url:
                ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from catalog.local_cluster import die_with_parent, free_port, pool_options
from shared.engine.chain import QUEUES  # noqa: F401 (the tests import it from here)

if TYPE_CHECKING:
    from celery import Celery

PROJECT = Path(__file__).resolve().parents[1]


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to a process this code started (a Celery worker then finishes its running
    task: warm shutdown), SIGKILL to its whole process group (pool children included) when
    it has not ended after `timeout`, and to what is left of the group in any case."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group is the one start_new_session made
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@contextlib.contextmanager
def running_redis(folder: Path):
    """A throwaway redis-server on a free loopback port, no persistence; yields its URL."""
    server = shutil.which("redis-server")
    if server is None:
        import pytest

        pytest.skip("redis-server is not installed (scripts/setup.sh installs it: apt-get install redis-server)")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = open(folder / "redis.log", "wb")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        import redis

        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.ping():
                    break
            except redis.exceptions.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {(folder / 'redis.log').read_text()}") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        log.close()


@contextlib.contextmanager
def running_moto():
    """A local S3-compatible server (moto) on a free loopback port; yields its endpoint URL.
    Clients need any AWS credentials: s3_env() gives them."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_env() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def make_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    boto3.client(
        "s3",
        endpoint_url=endpoint,
        **{k.lower(): v for k, v in s3_env().items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    ).create_bucket(Bucket=bucket)


@dataclass
class Cluster:
    redis_url: str
    storage_url: str
    env: dict[str, str]
    logs: Path
    app: Celery  # a Celery app on this cluster's Redis, for control commands
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)  # node name -> process

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)


def worker_command(queues: tuple[str, ...], name: str) -> list[str]:
    """A worker of one service (its own task module, and its pool: services.webhooks's
    threads), or of several (services.tasks, one process)."""
    tasks = f"services.{queues[0]}.tasks" if len(queues) == 1 else "services.tasks"
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        tasks,
        "worker",
        "-Q",
        ",".join(queues),
        *(pool_options(queues[0]) if len(queues) == 1 else ["--pool", "prefork", "--concurrency", "1"]),
        "--prefetch-multiplier",
        "1",
        "-n",
        name,
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]


@contextlib.contextmanager
def running_workers(
    redis_url: str,
    storage_url: str,
    logs: Path,
    groups: list[tuple[str, ...]],
    extra_env: dict[str, str] | None = None,
    timeout: float = 120.0,
):
    """One Celery worker process per group of queues (node name: the group's first queue
    plus "@test"), with CATALOG_REDIS_URL/CATALOG_STORAGE_URL pointing at this cluster;
    waits until each answers a ping; stops them all at the end, also on failure."""
    from shared.engine.celery_app import make_app

    logs.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "CATALOG_REDIS_URL": redis_url,
        "CATALOG_STORAGE_URL": storage_url,
        "CATALOG_DEVICE": os.environ.get("CATALOG_DEVICE", "cpu"),
        **(extra_env or {}),
    }
    cluster = Cluster(redis_url, storage_url, env, logs, app=make_app(redis_url))
    handles = []
    try:
        for queues in groups:
            name = f"{'-'.join(queues)}@test"
            log = open(logs / f"{'-'.join(queues)}.log", "wb")
            handles.append(log)
            cluster.workers[name] = subprocess.Popen(
                worker_command(queues, name),
                cwd=PROJECT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        wait_for_workers(cluster, timeout)
        yield cluster
    finally:
        for proc in cluster.workers.values():
            stop(proc)
        for log in handles:
            log.close()
        with contextlib.suppress(Exception):
            cluster.app.close()


@contextlib.contextmanager
def running_gateway(
    env: dict[str, str], logs: Path, port: int | None = None, timeout: float = 60.0, wait_for: str = "/readyz"
):
    """The gateway (services.gateway.serve: uvicorn with the connection limits, as every
    launch path runs it) on a loopback port, with the given environment; yields its
    base URL once `wait_for` answers 200; stopped at the end."""
    import httpx

    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / f"gateway-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.gateway.serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{url}{wait_for}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start: {(logs / f'gateway-{port}.log').read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        stop(proc)
        log.close()


def wait_for_workers(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    expected = set(cluster.workers)
    while True:
        replies = cluster.app.control.ping(timeout=1.0) or []
        answered = {name for reply in replies for name in reply}
        if expected <= answered:
            return
        dead = [name for name, proc in cluster.workers.items() if proc.poll() is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(
                f"workers {sorted(expected - answered)} did not start (dead: {dead})\n{cluster.log_tail()}"
            )
        time.sleep(0.5)


def wait_for_job(jobs, job_id: str, timeout: float = 300.0, cluster: Cluster | None = None):
    """Poll the job record until every image has ended; returns the Job (with states)."""
    deadline = time.monotonic() + timeout
    while True:
        job = jobs.get_job(job_id)
        if job is not None and job.finished:
            return jobs.get_job(job_id, states=True)
        if time.monotonic() > deadline:
            tail = cluster.log_tail() if cluster else ""
            raise TimeoutError(f"job {job_id} not finished after {timeout} s: {job}\n{tail}")
        time.sleep(0.2)


def timed_job(url: str, key: str | None, files: list[tuple[str, bytes]], timeout: float = 300.0, **fields) -> float:
    """Seconds from the POST of a job to its end, polled over HTTP as a client would."""
    import httpx

    headers = {"X-API-Key": key} if key else {}
    start = time.monotonic()
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        accepted = http.post("/v1/jobs", files=[("files", f) for f in files], data=fields)
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]
        while http.get(f"/v1/jobs/{job_id}").json()["finished"] is None:
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"job {job_id} not finished after {timeout} s")
            time.sleep(0.1)
    return time.monotonic() - start


def submit(url: str, key: str | None, files: list[tuple[str, bytes]], **fields) -> str:
    """POST a job; its id."""
    import httpx

    headers = {"X-API-Key": key} if key else {}
    accepted = httpx.post(
        f"{url}/v1/jobs", files=[("files", f) for f in files], data=fields, headers=headers, timeout=60
    )
    assert accepted.status_code == 202, accepted.text
    return accepted.json()["id"]


@dataclass
class WebhookCall:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str  # http://127.0.0.1:<port>; any path is accepted
    calls: list[WebhookCall] = field(default_factory=list)
    # Status codes to answer, per path, before answering 200 (to exercise retries).
    failures: dict[str, list[int]] = field(default_factory=dict)
    # Seconds to wait before answering a path that starts with the key (a slow receiver),
    # cut short for every call once `released` is set.
    delays: dict[str, float] = field(default_factory=dict)
    released: threading.Event = field(default_factory=threading.Event)

    def calls_to(self, path: str, count: int = 1, timeout: float = 60.0) -> list[WebhookCall]:
        """Wait until `path` has had `count` calls; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls if c.path == path]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@contextlib.contextmanager
def running_webhook_receiver():
    """A small HTTP server on a loopback port that records every POST it gets."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    receiver = WebhookReceiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.calls.append(WebhookCall(self.path, dict(self.headers), body))
            delay = max((s for p, s in receiver.delays.items() if self.path.startswith(p)), default=0.0)
            if delay:
                receiver.released.wait(delay)
            pending = receiver.failures.get(self.path)
            self.send_response(pending.pop(0) if pending else 200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True  # a held call does not hold up the shutdown
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        server.shutdown()
        server.server_close()


def small_jpeg(image, side: int = 320) -> bytes:
    """A PIL image as a JPEG at most side px on its long side: quick to run through a cluster."""
    import io

    image = image.convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def six_photos() -> list[tuple[str, bytes]]:
    """The committed photos (a person, a packshot, a scene) and three of scikit-image's, small."""
    from PIL import Image
    from skimage import data as samples

    fixtures = Path(__file__).parent / "fixtures"
    mine = [(p.name, small_jpeg(Image.open(p))) for p in sorted(fixtures.glob("*.jpg"))]
    theirs = [
        (f"{n}.jpg", small_jpeg(Image.fromarray(getattr(samples, n)()))) for n in ("coffee", "chelsea", "astronaut")
    ]
    return (mine + theirs)[:6]

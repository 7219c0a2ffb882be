"""POST /v1/jobs: nothing accepted is ever lost, and nothing refused is read whole.

Against a gateway of this module's own (uvicorn, its own process) on the session's
redis-server, in database 1 where no worker listens (the photos stay queued, their messages
in the queue), with small limits so the tests stay small: 24 MB per request, 4 MB per file,
120 files, and an Idempotency-Key held 2 s past its request's last sign of life. The job
store of the tests (`store`) is a real JobStore on the same Redis and blob store."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from cluster import running_gateway
from conftest import BOTTLE, encode, png_header

from shared.domain.records import Options
from shared.engine.jobs.abandoned import sweep_abandoned_uploads
from shared.engine.jobs.create import StreamedUpload, create_job
from shared.engine.jobs.keys import input_key, job_prefix
from shared.engine.jobs.store import JobStore
from shared.infra.imageio import MAX_SIDE, ImageError, decode_image
from shared.infra.storage import BlobStore

LIMITS = {
    "CATALOG_MAX_REQUEST_MB": "24",
    "CATALOG_MAX_UPLOAD_MB": "4",
    "CATALOG_MAX_FILES": "120",
    "CATALOG_IDEMPOTENCY_PENDING_S": "2",
    "CATALOG_SWEEP_INTERVAL_S": "0",  # the stalled-photo sweeper: nothing of this module's to sweep
}
PENDING_S = 2.0


@pytest.fixture(scope="module")
def env(redis_url, tmp_path_factory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("uploads")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    return {
        **env,
        **LIMITS,
        "CATALOG_REDIS_URL": redis_url.rsplit("/", 1)[0] + "/1",
        "CATALOG_STORAGE_URL": (base / "blobs").as_uri(),
    }


@pytest.fixture(scope="module")
def store(env) -> JobStore:
    return JobStore.from_url(env["CATALOG_REDIS_URL"], BlobStore(env["CATALOG_STORAGE_URL"]))


@pytest.fixture(scope="module")
def gw(env, tmp_path_factory) -> Iterator[str]:
    with running_gateway(env, tmp_path_factory.mktemp("uploads-logs")) as url:
        yield url


def post(url: str, files: dict[str, bytes], key: str | None = None, **fields) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return httpx.post(
        f"{url}/v1/jobs", files=[("files", (n, d)) for n, d in files.items()], data=fields, headers=headers, timeout=60
    )


def padded_png(mb: float, seed: int = 0) -> bytes:
    """A PNG whose header passes every check, padded to `mb` MB (the header is all the
    gateway reads of a file)."""
    head = png_header(400, 300)
    return head + np.random.default_rng(seed).bytes(int(mb * 2**20) - len(head))


def read_answer(s: socket.socket) -> tuple[bytes, dict]:
    """The head and JSON body of an answer on a raw socket the gateway closes after it."""
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:  # what it had sent stays readable before the reset
            break
        if not chunk:
            break
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, json.loads(body) if body else {}


def gateway_pid(url: str) -> int:
    """The gateway process serving `url` (running_gateway starts it with --port)."""
    port = str(urlsplit(url).port)
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"services.gateway.serve" in argv and port.encode() in argv:
            return int(proc.name)
    raise LookupError(f"no gateway process on port {port}")


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


# --- 1. what the models cannot take is refused from the header ------------------------------------


@pytest.mark.parametrize("width, height", [(40000, 40), (32767, 40), (21845, 40), (40, 21845)])
def test_a_side_the_models_cannot_take_is_422_at_upload_naming_the_limit(gw, width, height):
    """MediaPipe aborts on an image side of 32,767 px; pose pads a photo by half its long side
    before one of its calls, so a photo's side may be two thirds of that at most."""
    response = post(gw, {"long.png": png_header(width, height)})
    assert response.status_code == 422, response.text
    assert response.json()["files"][0]["code"] == "bad_shape"
    assert f"{width}x{height} px" in response.json()["detail"]
    assert f"at most {MAX_SIDE} px on a side" in response.json()["detail"] and MAX_SIDE == 21844
    assert post(gw, {"long.png": png_header(21844, 40)}).status_code == 202


def test_catalog_run_fails_such_a_photo_alone_with_the_same_message(tmp_path):
    """The in-process pipeline (catalog run) reads the photo through the same check: the 40000x40
    photo that aborted MediaPipe fails alone, before any model runs, and the run goes on."""
    from catalog.runner import run

    long = tmp_path / "long.png"
    long.write_bytes(encode(np.full((40, 40000, 3), 200, np.uint8)))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError) as refused:
        decode_image(long.read_bytes())
    assert refused.value.code == "bad_shape"
    manifest = run([long, tmp_path / "empty.jpg"], tmp_path / "out")
    assert [(r.status, r.error) for r in manifest.images] == [
        ("failed", f"image too long: 40000x40 px; the models take at most {MAX_SIDE} px on a side"),
        ("failed", "empty file (0 bytes)"),
    ]


# --- 5. every option is checked at upload -------------------------------------------------------------


@pytest.mark.parametrize(
    "background, words",
    [
        ("red", "invalid background 'red'"),
        ("#12345g", "invalid background '#12345g'"),
        ("x" * 100_000, "at most 32 characters"),
    ],
)
def test_a_bad_background_is_422_naming_the_field(gw, background, words):
    response = post(gw, {"cup.jpg": BOTTLE.read_bytes()}, background=background)
    assert response.status_code == 422, response.text[:300]
    assert "background" in response.json()["detail"] and words in response.json()["detail"]


def test_catalog_run_refuses_a_bad_background_before_any_photo(tmp_path):
    from typer.testing import CliRunner

    from catalog.cli import app

    result = CliRunner().invoke(app, ["run", str(BOTTLE), "--background", "red", "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "invalid options: background" in result.output and "invalid background 'red'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    assert Options(background=" #FfF ").background == " #FfF "  # parse_background's own rules


# --- 4. sizes are enforced as the body arrives; files are streamed, never held -------------------------


def test_a_request_declared_over_the_limit_is_413_before_its_body_is_read(gw):
    parts = urlsplit(gw)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 629145600\r\n\r\n"
        )  # 600 MB announced, none sent
        head, body = read_answer(s)
        assert time.monotonic() - start < 5
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    detail = body["detail"]
    assert "600.0 MB" in detail and "the limit is 24 MB per request (CATALOG_MAX_REQUEST_MB)" in detail


def test_a_chunked_request_is_cut_off_with_413_once_it_passes_the_limit(gw):
    """No Content-Length: the gateway counts the bytes as they come and answers as soon as
    they pass 24 MB, while the client would send 600 MB."""
    parts = urlsplit(gw)
    sent, chunk = 0, os.urandom(1 << 20)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        head = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n\r\n' + png_header(400, 300)
        s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        try:
            while sent < 600 * 2**20 and not select.select([s], [], [], 0)[0]:
                s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the gateway closed the connection after its answer
        head, body = read_answer(s)
    assert head.startswith(b"HTTP/1.1 413"), head
    assert "over 24 MB" in body["detail"]
    assert sent < 48 * 2**20, f"{sent / 2**20:.0f} MB were sent before the 413"  # the limit and socket buffers


def test_a_file_over_its_limit_is_refused_alone_and_not_kept(gw, store):
    response = post(gw, {"big.png": padded_png(5), "cup.jpg": BOTTLE.read_bytes()})
    assert response.status_code == 202, response.text
    job = response.json()
    assert [(i["status"], i["error"]) for i in job["images"]] == [
        ("failed", "file too large: 5.0 MB; the limit is 4 MB"),
        ("queued", None),
    ]
    assert store.blobs.list(job_prefix(job["id"])) == [input_key(job["id"], "1")]
    alone = post(gw, {"big.png": padded_png(5)})
    assert alone.status_code == 413 and "file too large: 5.0 MB; the limit is 4 MB" in alone.json()["detail"]


def test_too_many_files_is_413_while_the_form_is_read(gw):
    response = post(gw, {f"{n}.png": b"x" for n in range(121)})
    assert response.status_code == 413
    assert "too many files" in response.json()["detail"] and "at most 120 per job" in response.json()["detail"]


def test_files_are_streamed_to_the_store_not_held_in_memory(gw, store):
    """Six files of 3.9 MB (23 MB) in one request: the gateway's peak RSS grows by far less than
    the files (each was held whole in memory before, all at once)."""
    pid, files = gateway_pid(gw), {f"f{n}.png": padded_png(3.9, seed=n) for n in range(6)}
    post(gw, {"warm.png": padded_png(1)})  # first-use allocations out of the way
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = rss_kib(pid, "VmHWM")
    response = post(gw, files)
    grew_mib = (rss_kib(pid, "VmHWM") - before) / 1024
    assert response.status_code == 202, response.text
    assert grew_mib < 8, f"peak RSS grew by {grew_mib:.1f} MiB for 23 MiB of files"
    job_id = response.json()["id"]
    assert [store.blobs.get(input_key(job_id, str(n))) for n in range(6)] == list(files.values())


# --- 6. the answer waits for the stored job, not for the queue -----------------------------------------


def test_the_photos_are_queued_after_the_answer(gw, store):
    response = post(gw, {"a.jpg": BOTTLE.read_bytes(), "b.jpg": BOTTLE.read_bytes()})
    assert response.status_code == 202
    job_id = response.json()["id"]
    assert [i["status"] for i in response.json()["images"]] == ["queued", "queued"]
    deadline = time.monotonic() + 10
    while (queued := sum(job_id in m for m in store.redis.lrange("detect", 0, -1))) < 2:
        assert time.monotonic() < deadline, f"{queued} of 2 photos sent to detect"
        time.sleep(0.05)


# --- 3. one Idempotency-Key, one request -------------------------------------------------------------


def test_a_key_reused_with_another_body_is_409_and_a_true_retry_the_first_job(gw, store):
    cup = BOTTLE.read_bytes()
    first = post(gw, {"cup.jpg": cup}, key="order-1", aspect="1:1")
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    again = post(gw, {"cup.jpg": cup}, key="order-1", aspect="1:1")
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    for files, fields in [
        ({"cup.jpg": cup[:-1] + b"\0"}, {"aspect": "1:1"}),
        ({"mug.jpg": cup}, {"aspect": "1:1"}),
        ({"cup.jpg": cup}, {"aspect": "4:5"}),
        ({"cup.jpg": cup, "b.jpg": cup}, {"aspect": "1:1"}),
        ({"cup.jpg": cup}, {"aspect": "1:1", "webhook_url": "http://127.0.0.1:9/hook"}),
    ]:
        other = post(gw, files, key="order-1", **fields)
        assert other.status_code == 409, (files.keys(), fields, other.text)
        assert "Idempotency-Key was already used for a different request" in other.json()["detail"]
    assert store.list_jobs("local").count(first.json()["id"]) == 1
    assert sum(1 for j in store.list_jobs("local", limit=1000) if store.get_job(j).idempotency_key == "order-1") == 1


def test_a_lasting_key_that_names_no_job_is_taken_anew(gw, store):
    """What the old gateway left when killed mid-upload: the key, without expiry, naming a
    job that never came. A retry makes the job instead of a 500."""
    store.redis.set(store.keys.idempotency("local", "order-2"), "0123456789abcdef0123456789abcdef")
    response = post(gw, {"cup.jpg": BOTTLE.read_bytes()}, key="order-2")
    assert response.status_code == 202 and "idempotent-replayed" not in response.headers, response.text
    assert store.redis.get(store.keys.idempotency("local", "order-2")).startswith(response.json()["id"] + ":")
    assert store.redis.ttl(store.keys.idempotency("local", "order-2")) == -1  # lasting: its job exists


# --- 2. a gateway killed during an upload ----------------------------------------------------------------


def test_a_gateway_killed_while_storing_leaves_no_poisoned_key_and_its_files_are_swept(env, store, tmp_path):
    """Gateway A is frozen and killed (SIGSTOP, SIGKILL: no code of its runs) while it stores a
    job's originals. The key it held expires; the retry, on gateway B, waits for it and makes
    the job anew; the sweeper deletes the files A left, and only those."""
    files = {f"{n}.png": padded_png(1.5, seed=n) for n in range(110)}  # 165 MB: storing them takes a while
    idem = store.keys.idempotency("local", "killed-1")
    pending = f"{store.ns}:uploads:pending"
    big = {**env, "CATALOG_MAX_REQUEST_MB": "200"}
    with running_gateway(big, tmp_path / "a") as a, running_gateway(big, tmp_path / "b") as b:
        pid, outcome = gateway_pid(a), []

        def upload_to_a():
            try:
                outcome.append(post(a, files, key="killed-1"))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        upload = threading.Thread(target=upload_to_a)
        upload.start()
        deadline = time.monotonic() + 30
        while not (ids := store.redis.zrange(pending, 0, -1)) or not store.blobs.list(job_prefix(ids[0])):
            assert time.monotonic() < deadline, "gateway A never started storing"
            time.sleep(0.001)
        os.kill(pid, signal.SIGSTOP)  # frozen while it stores the originals
        dead = ids[0]
        assert store.get_job(dead) is None and store.redis.pttl(idem) > 0  # pending: it expires
        os.kill(pid, signal.SIGKILL)
        upload.join(60)
        assert isinstance(outcome[0], httpx.HTTPError), outcome  # A never answered

        start = time.monotonic()
        retry = post(b, files, key="killed-1")
        waited = time.monotonic() - start
        assert retry.status_code == 202 and "idempotent-replayed" not in retry.headers, retry.text
        job_id = retry.json()["id"]
        assert job_id != dead and waited < PENDING_S + 5
        replay = post(b, files, key="killed-1")
        assert replay.status_code == 202 and replay.json()["id"] == job_id
        assert replay.headers["idempotent-replayed"] == "true"

    assert sweep_abandoned_uploads(store, older_than_s=60) == []  # A's last sign of life is recent
    time.sleep(0.1)
    assert sweep_abandoned_uploads(store, older_than_s=0.05) == [dead]
    assert not Path(store.blobs.path(job_prefix(dead))).exists() and not store.redis.zcard(pending)
    assert len(store.blobs.list(job_prefix(job_id))) == 110  # the job made by the retry is untouched
    assert sweep_abandoned_uploads(store, older_than_s=0) == []


class FailingStore(BlobStore):
    """A blob store that fails on the n-th file written (a storage fault mid-upload), or holds
    each write until `go` is set."""

    def __init__(self, url: str, fail_at: int | None = None):
        super().__init__(url)
        self.fail_at, self.writes, self.go, self.waiting = fail_at, 0, threading.Event(), threading.Event()
        self.go.set()

    def put_stream(self, key, source, chunk_size=1 << 20):
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError("disk full")
        self.waiting.set()
        self.go.wait(30)
        return super().put_stream(key, source, chunk_size)


def uploads(count: int) -> list[StreamedUpload]:
    import io

    return [StreamedUpload(f"{n}.jpg", stream=io.BytesIO(b"photo %d" % n)) for n in range(count)]


def test_a_job_that_fails_to_store_leaves_no_file_and_lets_its_key_go(env, tmp_path):
    blobs = FailingStore((tmp_path / "blobs").as_uri(), fail_at=3)
    jobs = JobStore.from_url(env["CATALOG_REDIS_URL"], blobs, namespace=f"fail{time.monotonic_ns()}")
    with pytest.raises(OSError, match="disk full"):
        create_job(jobs, "local", uploads(4), idempotency_key="k", fingerprint="f1")
    assert blobs.list("jobs") == [] and jobs.redis.keys(f"{jobs.ns}:*") == []  # no file, no key, nothing pending
    job, created = create_job(jobs, "local", uploads(4), idempotency_key="k", fingerprint="f1")  # the retry
    assert created and len(blobs.list(job_prefix(job.id))) == 4


def test_a_slow_upload_claimed_by_the_sweeper_fails_rather_than_keep_a_job_without_files(env, tmp_path) -> None:
    blobs = FailingStore((tmp_path / "blobs").as_uri())
    jobs = JobStore.from_url(env["CATALOG_REDIS_URL"], blobs, namespace=f"slow{time.monotonic_ns()}")
    blobs.go.clear()
    outcome: list[BaseException] = []

    def create():
        try:
            create_job(jobs, "local", uploads(2), idempotency_key="k", fingerprint="f")
        except BaseException as exc:
            outcome.append(exc)

    creating = threading.Thread(target=create)
    creating.start()
    assert blobs.waiting.wait(10)
    swept = sweep_abandoned_uploads(jobs, older_than_s=0)  # as if it had gone quiet for long
    blobs.go.set()
    creating.join(30)
    assert len(swept) == 1 and jobs.get_job(swept[0]) is None
    assert outcome and "given up as abandoned" in str(outcome[0])
    assert blobs.list("jobs") == [] and jobs.redis.keys(f"{jobs.ns}:*") == []


def test_an_upload_without_a_key_is_401_before_its_body_is_read(gateway):
    """With keys on, a caller without a valid key cannot make the gateway read its body."""
    parts = urlsplit(gateway.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        start = time.monotonic()
        s.sendall(
            b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 209715200\r\n\r\n"
        )  # 200 MB announced, none sent
        head, body = read_answer(s)
        assert time.monotonic() - start < 5
    assert head.startswith(b"HTTP/1.1 401"), head
    assert body["detail"] == "an API key is required: send it in the X-API-Key header"

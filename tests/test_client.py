"""The command-line client (`catalog submit/status/fetch`, catalog/client.py) against the real
gateway, Redis and workers of the test session (the `gateway` fixture), and the local
cluster (`python -m catalog.local_cluster`) started as `make run` starts it."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import IO

import httpx
import pytest
from conftest import BOTTLE
from PIL import Image
from skimage import data as samples
from typer.testing import CliRunner

from catalog.cli import app
from catalog.client import CatalogClient, CatalogError, extract
from catalog.local_cluster import free_port

PROJECT = Path(__file__).resolve().parents[1]


def catalog(*args: str):
    """`catalog ARGS` in this process; the result has exit_code and output."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def job_id_in(output: str) -> str:
    found = re.search(r"job ([0-9a-f]{16,})", output)
    assert found, output
    return found.group(1)


def photo_folder(folder: Path) -> Path:
    """A packshot, a small coffee cup, and a text file named like a photo."""
    folder.mkdir(parents=True)
    (folder / "bottle.jpg").write_bytes(BOTTLE.read_bytes())
    Image.fromarray(samples.coffee()).resize((300, 200)).save(folder / "coffee.jpg", quality=90)
    (folder / "notes.jpg").write_text("not a photo\n" * 10)
    return folder


def manifest_files(manifest: dict) -> list[str]:
    paths = []
    for image in manifest["images"]:
        paths += [image["preview"]] if image.get("preview") else []
        for item in image.get("items") or []:
            paths += [p for p in item["files"].values() if p]
    return paths


@pytest.fixture(scope="module")
def submitted(gateway, tmp_path_factory):
    """`catalog submit FOLDER --wait --out DIR` once: (result, DIR)."""
    base = tmp_path_factory.mktemp("client")
    out = base / "out"
    result = catalog(
        "submit",
        photo_folder(base / "photos"),
        "--wait",
        "--out",
        out,
        "--aspect",
        "1:1",
        "--url",
        gateway.url,
        "--api-key",
        gateway.api_keys[0],
    )
    return result, out


def test_submit_waits_and_unpacks_the_catalog(submitted):
    result, out = submitted
    assert result.exit_code == 0, result.output
    assert re.search(r"job [0-9a-f]+ (queued|running), 3 photos: http://127\.0\.0\.1:\d+/v1/jobs/", result.output)
    assert "bottle.jpg: ok" in result.output and "coffee.jpg: ok" in result.output
    assert re.search(r"notes\.jpg: failed: \S+", result.output), "a failure is printed with its reason"
    assert f"partial: 2 ok, 1 failed -> {out / 'index.html'}" in result.output

    manifest = json.loads((out / "manifest.json").read_text())
    assert (out / "index.html").is_file()
    assert manifest["options"]["aspect"] == "1:1"
    assert sorted(i["source"] for i in manifest["images"]) == ["bottle.jpg", "coffee.jpg", "notes.jpg"]
    files = manifest_files(manifest)
    assert files and all(not p.startswith(("http", "/")) for p in files), "paths relative, as `catalog run` writes"
    assert all((out / p).is_file() for p in files)


def test_status_shows_each_photo(gateway, submitted):
    job_id = job_id_in(submitted[0].output)
    result = catalog("status", job_id, "--url", gateway.url, "--api-key", gateway.api_keys[0])
    assert result.exit_code == 0, result.output
    assert f"job {job_id} partial: 3/3 done, 1 failed" in result.output
    for name in ("bottle.jpg", "coffee.jpg", "notes.jpg"):
        assert name in result.output
    assert "failed" in result.output and "ok" in result.output


def test_fetch_gives_the_same_catalog(gateway, submitted, tmp_path):
    result, out = submitted
    again = catalog(
        "fetch",
        job_id_in(result.output),
        "--out",
        tmp_path / "again",
        "--url",
        gateway.url,
        "--api-key",
        gateway.api_keys[0],
    )
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "again" / "manifest.json").read_text()) == json.loads(
        (out / "manifest.json").read_text()
    )
    assert sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*")) == sorted(
        p.relative_to(out) for p in out.rglob("*")
    )


def test_fetch_of_a_running_job_needs_wait(gateway, tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_URL", gateway.url)  # the options' environment variables
    monkeypatch.setenv("CATALOG_API_KEY", gateway.api_keys[1])
    accepted = catalog("submit", BOTTLE)
    assert accepted.exit_code == 0, accepted.output
    job_id = job_id_in(accepted.output)

    early = catalog("fetch", job_id, "--out", tmp_path / "early")
    assert early.exit_code == 1 and "still" in early.output and "--wait" in early.output
    assert not (tmp_path / "early").exists()

    waited = catalog("fetch", job_id, "--out", tmp_path / "late", "--wait")
    assert waited.exit_code == 0, waited.output
    assert "succeeded: 1 ok, 0 failed" in waited.output
    assert (tmp_path / "late" / "index.html").is_file()


def test_a_job_where_every_photo_fails_exits_1(gateway, tmp_path):
    whole = BOTTLE.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(whole[: len(whole) // 2])  # passes the upload check, fails to decode
    result = catalog("submit", tmp_path / "cut.jpg", "--wait", "--url", gateway.url, "--api-key", gateway.api_keys[0])
    assert result.exit_code == 1, result.output
    assert re.search(r"cut\.jpg: failed: \S+", result.output) and "failed: 0 ok, 1 failed" in result.output


def test_a_job_the_gateway_refuses_exits_1(gateway, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "b.png").write_text("text")
    result = catalog(
        "submit",
        tmp_path / "a.jpg",
        tmp_path / "b.png",
        "--wait",
        "--url",
        gateway.url,
        "--api-key",
        gateway.api_keys[0],
    )
    assert result.exit_code == 1
    assert "error:" in result.output and "no file of the job could be accepted" in result.output
    assert "a.jpg:" in result.output and "b.png:" in result.output, "each file's reason is shown"


def test_wrong_key_and_another_keys_job(gateway, submitted):
    job_id = job_id_in(submitted[0].output)
    wrong = catalog("status", job_id, "--url", gateway.url, "--api-key", "not-a-key")
    assert wrong.exit_code == 1
    assert "error:" in wrong.output and "HTTP 401" in wrong.output and "Traceback" not in wrong.output
    other = catalog("status", job_id, "--url", gateway.url, "--api-key", gateway.api_keys[1])
    assert other.exit_code == 1 and "HTTP 404" in other.output


def test_no_gateway_at_the_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, not listening: refused
        result = catalog("submit", BOTTLE, "--url", url)
    assert result.exit_code == 1
    assert f"no Catalog gateway at {url}: start one with `make run`" in result.output
    assert "Traceback" not in result.output


def test_client_options_idempotency_and_refusals(gateway):
    with CatalogClient(gateway.url, gateway.api_keys[0]) as client:
        first = client.submit([BOTTLE], {"format": "png", "garments": ["top"]}, idempotency_key="client-test-1")
        again = client.submit([BOTTLE], {"format": "png", "garments": ["top"]}, idempotency_key="client-test-1")
        assert again.id == first.id
        with pytest.raises(CatalogError) as changed:  # the same key for another request
            client.submit([BOTTLE], {"format": "png"}, idempotency_key="client-test-1")
        assert changed.value.status == 409
        assert first.options.format == "png" and first.options.garments == ["top"]
        seen = []
        final = client.wait(first.id, on_progress=seen.append, interval=0.2)
        assert final.status == "succeeded" and seen[-1] == final

        with pytest.raises(CatalogError) as refused:
            client.submit([BOTTLE], {"aspect": "2:7"})
        assert refused.value.status == 422 and "aspect" in refused.value.message
        with pytest.raises(CatalogError) as missing:
            client.job("0" * 32)
        assert missing.value.status == 404


def test_extract_refuses_members_leaving_the_folder(tmp_path):
    def archive(name: str, link: bool = False) -> zipfile.ZipFile:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("manifest.json", "{}")
            info = zipfile.ZipInfo(name)
            if link:
                info.external_attr = 0o120777 << 16  # a symbolic link
            z.writestr(info, "/etc/passwd" if link else "x")
        return zipfile.ZipFile(buf)

    out = tmp_path / "out"
    for name, link in [
        ("../escape.txt", False),
        ("a/../../escape.txt", False),
        ("/tmp/abs.txt", False),
        ("a\\..\\..\\x", False),
        ("link", True),
    ]:
        with pytest.raises(CatalogError, match="unsafe path"):
            extract(archive(name, link), out)
        assert not out.exists() and not (tmp_path / "escape.txt").exists()
    extract(archive("look/top.jpg"), out)
    assert (out / "look" / "top.jpg").read_text() == "x"


# --- the local cluster (`make run`) ------------------------------------------------------------


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose environment, command line or working folder holds `text`: pid ->
    command line. (redis-server rewrites its environment block for its title, but works in
    its --dir.)"""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().split(")")[-1].split()[0] == "Z":
                continue  # a zombie has ended; only its exit status is left
            blob = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
            blob += os.readlink(entry / "cwd").encode()
        except OSError:
            continue
        if text.encode() in blob:
            found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    return found


def cluster_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}  # its own Redis, keys off
    return {**env, "CATALOG_PORT": str(port), "CATALOG_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}


def read_lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """stdout lines (stderr merged) until one holds `text`; fails with what was said. A
    thread reads, so the wait has a deadline even when the process says nothing."""
    lines: queue.Queue[str] | None = getattr(proc, "lines", None)
    if lines is None:  # one reader per process, so no line goes to an earlier wait
        assert proc.stdout is not None, "the process must be started with stdout=PIPE"
        lines = proc.lines = queue.Queue()  # type: ignore[attr-defined]
        threading.Thread(target=read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc.poll() is None or not lines.empty()):
        try:
            seen.append(lines.get(timeout=0.5))
        except queue.Empty:
            continue
        if text in seen[-1]:
            return seen[-1]
    pytest.fail(f"no {text!r} from the local cluster (exit {proc.poll()}):\n{''.join(seen)}")


def test_local_cluster_starts_serves_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "cluster-data"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "catalog.local_cluster", "--data", data],
        cwd=PROJECT,
        env=cluster_env(port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = wait_for_line(proc, "Catalog at", 180)
        assert f"http://127.0.0.1:{port}" in line
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        children = processes_mentioning(str(data))
        names = " ".join(children.values())
        assert "redis-server" in names and "services.gateway.serve" in names and names.count("celery") >= 4, children
        assert (data / "redis" / "appendonlydir").is_dir(), "Redis keeps an append-only file"

        # The matte runs as two 1-thread processes under one segment worker.
        segment_pids = [pid for pid, cmd in children.items() if "services.segment.tasks" in cmd and "celery" in cmd]
        segment = next(pid for pid in segment_pids if os.getpgid(pid) == pid)  # the worker, not its pool
        assert len(segment_pids) == 3, children  # the worker and its two pool processes
        environ = Path(f"/proc/{segment}/environ").read_bytes().split(b"\0")
        threads = max(1, (os.cpu_count() or 1) // 2)  # half the cores each
        assert f"CATALOG_SEGMENT_THREADS={threads}".encode() in environ

        # A worker that dies is started again, and the cluster says why.
        os.killpg(segment, signal.SIGKILL)
        assert "segment was killed by SIGKILL; starting it again" in wait_for_line(proc, "segment was killed", 30)
        wait_for_line(proc, "segment started again", 30)
        deadline = time.monotonic() + 60
        while not any("services.segment.tasks" in cmd for cmd in processes_mentioning(str(data)).values()):
            assert time.monotonic() < deadline, "no new segment worker"
            time.sleep(0.5)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 5
    while processes_mentioning(str(data)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(str(data)) == {}, "every child of the cluster has ended"
    assert {"redis.log", "gateway.log", "detect.log", "pose.log", "segment.log", "color.log"} <= {
        p.name for p in (data / "logs").iterdir()
    }


def test_local_cluster_runs_a_command_and_passes_on_its_exit_code(tmp_path):
    data = tmp_path / "cluster-data"
    check = (
        "import httpx, os, sys; url = os.environ['CATALOG_URL'];"
        "sys.exit(3 if httpx.get(url + '/healthz').status_code == 200 else 4)"
    )
    done = subprocess.run(
        [sys.executable, "-m", "catalog.local_cluster", "--data", data, "--", sys.executable, "-c", check],
        cwd=PROJECT,
        env=cluster_env(free_port()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert processes_mentioning(str(data)) == {}


def test_local_cluster_says_when_the_port_is_taken(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "catalog.local_cluster", "--data", tmp_path],
            cwd=PROJECT,
            env=cluster_env(port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert processes_mentioning(str(tmp_path)) == {}

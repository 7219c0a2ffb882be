"""The gateway alone on POST /v1/jobs: submit latency under concurrent clients, and its
memory on a large upload.

    .venv/bin/python bench/gateway_upload_bench.py [--clients 20] [--posts 5] [--big 10] [--big-mb 45]

A redis-server and one gateway (uvicorn, its own process, keys off, a file:// blob store in
a temporary folder); no workers, so the photos stay queued in Redis and only the gateway's
own work is measured.

1. submit latency: `--clients` threads, each POSTing a one-photo job (the packshot of
   tests/fixtures) `--posts` times, started together: p50/p99/max of the POST, and the
   gateway's CPU time per POST (its queueing of the photo included).
2. memory: a fresh gateway, warmed up by one small POST; its RSS then, and its peak RSS
   (VmHWM) over one POST of `--big` files of `--big-mb` MB each (uncompressed PNGs).

Prints the figures and writes bench/results/gateway_upload.json (with the load average:
figures from a loaded machine are noisy).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import RESULTS, code_version, loadavg  # noqa: E402
from cluster import running_redis, stop  # noqa: E402
from cluster_bench import percentile  # noqa: E402

from catalog.local_cluster import die_with_parent, free_port  # noqa: E402

PHOTO = ROOT / "tests" / "fixtures" / "cosmetics_white_bg_06.jpg"


def start_gateway(env: dict[str, str], logs: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(logs / f"gateway-{port}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.gateway.serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the gateway did not start: {(logs / f'gateway-{port}.log').read_text()}")
        time.sleep(0.2)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process so far (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def submit_latency(url: str, clients: int, posts: int) -> list[float]:
    data, latencies, lock = PHOTO.read_bytes(), [], threading.Lock()
    start = threading.Barrier(clients)
    errors: list[str] = []

    def client_thread():
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            for _ in range(posts):
                t = time.perf_counter()
                response = http.post("/v1/jobs", files=[("files", (PHOTO.name, data, "image/jpeg"))])
                elapsed = time.perf_counter() - t
                with lock:
                    if response.status_code != 202:
                        errors.append(f"{response.status_code} {response.text[:200]}")
                    latencies.append(elapsed)

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} POSTs failed, e.g. {errors[0]}")
    return latencies


def big_png(mb: float) -> bytes:
    """An uncompressed PNG of about `mb` MB (a flat grey photo, stored raw)."""
    side = int((mb * 2**20 / 3) ** 0.5)
    buf = io.BytesIO()
    Image.fromarray(np.full((side, side, 3), 200, np.uint8)).save(buf, "PNG", compress_level=0)
    return buf.getvalue()


def memory(env: dict[str, str], logs: Path, count: int, mb: float) -> dict:
    data = big_png(mb)
    proc, url = start_gateway(env, logs)
    try:
        with httpx.Client(base_url=url, timeout=600) as http:
            warm = http.post("/v1/jobs", files=[("files", (PHOTO.name, PHOTO.read_bytes(), "image/jpeg"))])
            warm.raise_for_status()
            time.sleep(0.5)
            before = rss_mib(proc.pid)
            t = time.perf_counter()
            response = http.post(
                "/v1/jobs", files=[("files", (f"big-{n}.png", data, "image/png")) for n in range(count)]
            )
            seconds = time.perf_counter() - t
            response.raise_for_status()
            return {
                "files": count,
                "file_mb": round(len(data) / 2**20, 1),
                "rss_before_mib": before,
                "peak_rss_mib": rss_mib(proc.pid, "VmHWM"),
                "rss_after_mib": rss_mib(proc.pid),
                "post_s": round(seconds, 2),
                "status": response.status_code,
            }
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--posts", type=int, default=5, help="POSTs per client")
    parser.add_argument("--big", type=int, default=10, help="files in the large upload (0: skip it)")
    parser.add_argument("--big-mb", type=float, default=45, help="size of each of them")
    parser.add_argument("--out", type=Path, default=RESULTS / "gateway_upload.json")
    args = parser.parse_args()
    load_start = loadavg()
    with tempfile.TemporaryDirectory() as scratch, running_redis(Path(scratch) / "redis") as redis_url:
        logs = Path(scratch) / "logs"
        logs.mkdir()
        env = {k: v for k, v in os.environ.items() if k != "CATALOG_API_KEYS"}
        env |= {"CATALOG_REDIS_URL": redis_url, "CATALOG_STORAGE_URL": (Path(scratch) / "blobs").as_uri()}
        proc, url = start_gateway(env, logs)
        try:
            submit_latency(url, 2, 2)  # warm-up: imports, connections
            cpu_start = cpu_s(proc.pid)
            latencies = submit_latency(url, args.clients, args.posts)
            time.sleep(1.0)  # the sends after the last answers
            cpu_per_post_ms = (cpu_s(proc.pid) - cpu_start) / len(latencies) * 1000
        finally:
            stop(proc)
        big = memory(env, logs, args.big, args.big_mb) if args.big else None
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "code": code_version(),
        "cores": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": loadavg(),
        "submit_latency_ms": {
            "clients": args.clients,
            "posts": len(latencies),
            "photo_kb": round(PHOTO.stat().st_size / 1024, 1),
            "p50": round(percentile(latencies, 50) * 1000, 1),
            "p99": round(percentile(latencies, 99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
            "gateway_cpu_ms_per_post": round(cpu_per_post_ms, 2),
        },
        "large_upload": big,
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

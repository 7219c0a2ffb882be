"""The cluster against the in-process pipeline on the same photos, and submit latency.

    .venv/bin/python bench/cluster_bench.py [DIR] [--photos 16] [--clients 20] [--posts 5]

1. in-process: catalog.runner.run over the photos (models warmed up first, not counted);
2. cluster: the local cluster (catalog.local_cluster: redis-server, the gateway, one worker
   per queue, each its own process) with its data in a temporary folder, once for each
   `--segment-processes` count (the segment worker's processes, side by side in one run); a
   warm-up job loads every worker's models; then the same photos as one job through the
   REST API, timed from the POST to the job's end; images/s of each and the ratio to
   in-process (queue and storage overhead, and what running the stages of different photos
   at once gains);
3. submit latency: `--clients` threads, each POSTing a one-photo job `--posts` times at once
   against the same gateway (while the workers start on them): p50/p99 of the POST.

Prints a table and writes bench/results/cluster.json. Figures from a loaded machine are
noisy: the load average is recorded at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import PHOTOS, RESULTS, photos  # noqa: E402

from catalog.client import CatalogClient  # noqa: E402
from catalog.local_cluster import LocalCluster, free_port  # noqa: E402
from catalog.runner import run  # noqa: E402
from services.gateway.api_models import JobPublic  # noqa: E402

console = Console()


def in_process(files: list[Path], warmup: list[Path], scratch: Path) -> float:
    """Seconds for the in-process pipeline over `files`, after a warm-up run."""
    run(warmup, scratch / "warmup")
    start = time.perf_counter()
    run(files, scratch / "in-process")
    return time.perf_counter() - start


def through_cluster(client: CatalogClient, files: list[Path], warmup: list[Path]) -> tuple[float, JobPublic]:
    """Seconds from the POST of `files` as one job to its end, after a warm-up job."""
    client.wait(client.submit(warmup).id, interval=0.2)
    start = time.perf_counter()
    job = client.submit(files)
    done = client.wait(job.id, interval=0.1)
    return time.perf_counter() - start, done


def submit_latency(url: str, photo: Path, clients: int, posts: int) -> list[float]:
    """POST latency (s) of `clients` threads each posting `posts` one-photo jobs, started
    together; the jobs are deleted afterwards so the workers drop them."""
    data, latencies, job_ids, lock = photo.read_bytes(), [], [], threading.Lock()
    start = threading.Barrier(clients)

    def client_thread():
        with httpx.Client(base_url=url, timeout=120) as http:
            start.wait()
            for _ in range(posts):
                t = time.perf_counter()
                response = http.post("/v1/jobs", files=[("files", (photo.name, data, "image/jpeg"))])
                elapsed = time.perf_counter() - t
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)
                    job_ids.append(response.json()["id"])

    threads = [threading.Thread(target=client_thread) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=url, timeout=60) as http:
        for job_id in job_ids:
            http.delete(f"/v1/jobs/{job_id}")
    return latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=PHOTOS)
    parser.add_argument("--photos", type=int, default=16, help="how many photos (sorted by name, evenly spread)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--posts", type=int, default=5, help="POSTs per client")
    parser.add_argument(
        "--segment-processes",
        type=int,
        nargs="+",
        default=[1, 2],
        help="segment worker processes, one cluster run each (the last also times submits)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "cluster.json")
    args = parser.parse_args()

    every = photos(args.folder)
    if not every:
        console.print(f"[red]no photos in {args.folder}[/red]")
        return 1
    step = max(1, len(every) // args.photos)
    files = every[::step][: args.photos]
    warmup = [p for p in every if p not in files][:2] or files[:2]
    load_start = os.getloadavg()

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        console.print(f"in-process: {len(files)} photos ...")
        local_s = in_process(files, warmup, scratch)

        os.environ.pop("CATALOG_REDIS_URL", None)
        os.environ.pop("CATALOG_API_KEYS", None)  # a local cluster: keys off
        clusters = {}
        for processes in args.segment_processes:
            cluster = LocalCluster(scratch / f"cluster-{processes}", free_port(), segment_processes=processes)
            try:
                console.print(f"starting the local cluster ({processes} segment processes) ...")
                cluster.start(timeout=300)
                with CatalogClient(cluster.url, timeout=120) as client:
                    console.print(f"cluster: {len(files)} photos as one job ...")
                    clusters[processes] = through_cluster(client, files, warmup)
                if processes == args.segment_processes[-1]:
                    console.print(f"submit latency: {args.clients} clients x {args.posts} POSTs ...")
                    latencies = submit_latency(cluster.url, files[0], args.clients, args.posts)
            finally:
                cluster.stop()

    n = len(files)
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "photos": n,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "in_process": {"seconds": round(local_s, 2), "images_per_s": round(n / local_s, 3)},
        "cluster": {
            f"{processes}_segment_processes": {
                "seconds": round(seconds, 2),
                "images_per_s": round(n / seconds, 3),
                "status": job.status,
                "failed": job.progress.failed,
                "over_in_process": round(local_s / seconds, 3),
            }
            for processes, (seconds, job) in clusters.items()
        },
        "submit_latency_ms": {
            "clients": args.clients,
            "posts": len(latencies),
            "photo": files[0].name,
            "photo_kb": round(files[0].stat().st_size / 1024, 1),
            "p50": round(percentile(latencies, 50) * 1000, 1),
            "p99": round(percentile(latencies, 99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
    }
    table = Table(title=f"Cluster vs in-process, {n} photos, {os.cpu_count()} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("in-process images/s", f"{result['in_process']['images_per_s']:.3f}")
    for processes, (seconds, _) in clusters.items():
        table.add_row(
            f"cluster images/s, {processes} segment processes",
            f"{n / seconds:.3f} ({local_s / seconds:.2f}x in-process)",
        )
    lat = result["submit_latency_ms"]
    table.add_row(f"submit latency p50 ({lat['clients']} clients)", f"{lat['p50']:.0f} ms")
    table.add_row(f"submit latency p99 ({lat['clients']} clients)", f"{lat['p99']:.0f} ms")
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault injection against a real local cluster (catalog.local_cluster: redis-server with an
append-only file, the gateway with its sweeper, four Celery workers, supervised), loopback only.

    .venv/bin/python bench/faults.py [--faults 100] [--minutes 20]

Clients keep submitting small jobs through the REST API (retrying with their Idempotency-Key
when the gateway is down) while faults are injected in turn:

- SIGKILL of a worker's pool process while it runs a stage (each worker kind);
- SIGKILL of a whole worker (main process and pool: the supervisor starts it again);
- Redis stopped (SIGTERM) with the workers up, started again by the supervisor;
- SIGKILL of the gateway while an upload is in flight;
- the blob store read-only, then full, for a few seconds (a tmpfs, remounted; needs root);
- SIGKILL of the webhooks worker, while calls wait on receivers that take 9.5 s to answer;
- slow clients (bench/_slow_clients.py): 40 connections from another address sending half
  a request head (the gateway caps them per address and closes the rest within
  CATALOG_HEADER_TIMEOUT_S), 5 sending a body shorter than announced (408 within
  CATALOG_BODY_TIMEOUT_S); and five jobs whose webhook receivers take 9.5 s each.

Then it waits for every accepted job to end and prints faults injected, photos accepted,
photos finished and photos lost (accepted, but not ended or gone), and how long the slow
connections were held and what they were answered. Lost must be 0.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _slow_clients import SlowConnections  # noqa: E402
from cluster import running_webhook_receiver  # noqa: E402

from catalog.client import CatalogClient, CatalogError  # noqa: E402
from catalog.local_cluster import LocalCluster, free_port  # noqa: E402
from shared.engine.chain import IMAGE_ENDED, STAGES  # noqa: E402
from shared.engine.jobs.store import JobStore  # noqa: E402
from shared.infra.storage import BlobStore  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
FAST_RECOVERY = {
    "CATALOG_HEARTBEAT_S": "1",
    "CATALOG_STALL_AFTER_S": "6",
    "CATALOG_SWEEP_INTERVAL_S": "2",
    "CATALOG_REDIS_WAIT_S": "90",
}


def small_photos(count: int = 4, side: int = 320) -> list[tuple[str, bytes]]:
    """A few committed photos, made small so stages are quick."""
    out = []
    for path in sorted(FIXTURES.glob("*.jpg"))[:count]:
        with Image.open(path) as original:
            im = original.convert("RGB")
        im.thumbnail((side, side))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        out.append((path.name, buf.getvalue()))
    return out


class Submitter(threading.Thread):
    """Submits a job of two photos, waits for it to end, and again (a closed loop, so the
    work in flight stays what the workers can do). A refused or unreachable gateway is
    tried again with the same Idempotency-Key until it answers 202."""

    def __init__(self, url: str, photos: list[tuple[str, bytes]], stop: threading.Event, n: int, jobs: JobStore):
        super().__init__(daemon=True)
        self.url, self.photos, self.stop, self.n, self.jobs = url, photos, stop, n, jobs
        self.accepted: dict[str, int] = {}  # job id -> photos
        self.in_flight = 0
        self.retries = 0

    def run(self) -> None:
        k = 0
        while not self.stop.is_set():
            k += 1
            key, chosen = f"faults-{self.n}-{k}", random.sample(self.photos, 2)
            with tempfile.TemporaryDirectory() as tmp:
                paths = []
                for name, data in chosen:
                    (Path(tmp) / name).write_bytes(data)
                    paths.append(Path(tmp) / name)
                job_id = self.submit(paths, key)
            while job_id and not self.stop.is_set() and not self.ended(job_id):
                time.sleep(0.5)

    def submit(self, paths: list[Path], key: str) -> str | None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.in_flight += 1
            try:
                with CatalogClient(self.url, timeout=30) as client:
                    job = client.submit(paths, idempotency_key=key)
                self.accepted[job.id] = len(paths)
                return job.id
            except CatalogError:
                self.retries += 1
                time.sleep(1.0)
            finally:
                self.in_flight -= 1
        return None

    def ended(self, job_id: str) -> bool:
        try:
            job = self.jobs.get_job(job_id)
        except Exception:  # Redis restarting
            return False
        return job is None or job.finished is not None


def running_stage_pid(jobs: JobStore, queue: str) -> int | None:
    """The pool process running a stage of the given queue now, from the job records."""
    for job_id in jobs.redis.smembers(jobs.keys.active):
        job = jobs.get_job(job_id)
        for image in job.images if job else []:
            run = image.stages.get(queue)
            if image.status == "running" and image.stage == queue and run and run.status == "running" and run.pid:
                return run.pid
    return None


def wait_for_running(jobs: JobStore, queue: str, timeout: float = 15) -> int | None:
    """A pool process running a stage of the queue, waited for a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pid := running_stage_pid(jobs, queue):
                return pid
        except Exception:  # Redis restarting
            pass
        time.sleep(0.05)
    return None


class BlobMount:
    """The blob store on a small tmpfs, to make it read-only or full for a moment."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.ok = (
            os.geteuid() == 0
            and subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=400m", "tmpfs", str(folder)], capture_output=True
            ).returncode
            == 0
        )

    def read_only(self, seconds: float) -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(self.folder)], check=True)
        time.sleep(seconds)
        subprocess.run(["mount", "-o", "remount,rw", str(self.folder)], check=True)

    def full(self, seconds: float) -> None:
        filler = self.folder / "filler"
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
            except OSError:
                pass
        time.sleep(seconds)
        filler.unlink()

    def close(self) -> None:
        if self.ok:
            subprocess.run(["umount", "-l", str(self.folder)], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=20, help="the whole run's limit, draining included")
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    random.seed(7)
    end_by = time.monotonic() + args.minutes * 60

    base = Path(tempfile.mkdtemp(prefix="catalog-faults-"))
    mount = BlobMount(base / "blobs")
    os.environ.update(FAST_RECOVERY)
    os.environ.pop("CATALOG_REDIS_URL", None)
    os.environ["CATALOG_STORAGE_URL"] = (base / "blobs").as_uri()
    cluster = LocalCluster(base, free_port())
    cluster.start(timeout=300)
    print(f"cluster at {cluster.url}, data in {base}; blob store on tmpfs: {mount.ok}", flush=True)
    stop_supervising = threading.Event()

    def supervise() -> None:
        while not stop_supervising.is_set():
            cluster.supervise()
            time.sleep(0.2)

    threading.Thread(target=supervise, daemon=True).start()
    jobs = JobStore.from_url(cluster.env["CATALOG_REDIS_URL"], BlobStore(cluster.env["CATALOG_STORAGE_URL"]))
    photos = small_photos()
    stop_clients = threading.Event()
    clients = [Submitter(cluster.url, photos, stop_clients, n, jobs) for n in range(args.clients)]
    for c in clients:
        c.start()

    kinds = (
        [f"kill-child-{q}" for q in STAGES]
        + [f"kill-worker-{q}" for q in STAGES]
        + ["restart-redis", "kill-gateway-mid-upload"]
        + (["blobs-read-only", "blobs-full"] if mount.ok else [])
        + ["slow-webhooks", "kill-worker-webhooks", "slow-heads", "short-bodies"]
    )
    slow = SlowConnections(cluster.url)
    receivers = running_webhook_receiver()
    receiver = receivers.__enter__()
    receiver.delays["/slow"] = 9.5
    injected: Counter[str] = Counter()
    try:
        time.sleep(20)  # work in flight first
        n = 0
        while sum(injected.values()) < args.faults and time.monotonic() < end_by - 300:
            kind = kinds[n % len(kinds)]
            n += 1
            if inject(kind, cluster, jobs, clients, mount, slow, receiver.url):
                injected[kind] += 1
                print(f"fault {sum(injected.values())}: {kind}", flush=True)
                time.sleep(random.uniform(2, 5))
            else:
                time.sleep(0.5)
    finally:
        stop_clients.set()
        for c in clients:
            c.join(150)
    accepted = {job_id: count for c in clients for job_id, count in c.accepted.items()}
    lost, finished = drain(jobs, accepted, end_by)
    receivers.__exit__(None, None, None)
    stop_supervising.set()
    cluster.stop()
    mount.close()
    result = {
        "faults_injected": sum(injected.values()),
        "by_kind": dict(injected),
        "jobs_accepted": len(accepted),
        "photos_accepted": sum(accepted.values()),
        "photos_finished": finished,
        "photos_lost": lost,
        "client_retries": sum(c.retries for c in clients),
        "slow_connections": slow.report(),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(base, ignore_errors=True)
    return 0 if lost == 0 else 1


def inject(
    kind: str,
    cluster: LocalCluster,
    jobs: JobStore,
    clients: list[Submitter],
    mount: BlobMount,
    slow: SlowConnections,
    receiver_url: str,
) -> bool:
    """One fault; False when its moment has not come (nothing running of that kind)."""
    try:
        if kind == "slow-webhooks":
            photo = small_photos(1)[0]
            with CatalogClient(cluster.url, timeout=30) as client, tempfile.TemporaryDirectory() as tmp:
                (Path(tmp) / photo[0]).write_bytes(photo[1])
                for n in range(5):
                    client.submit([Path(tmp) / photo[0]], webhook_url=f"{receiver_url}/slow/{n}")
        elif kind == "kill-worker-webhooks":
            os.killpg(cluster.children["webhooks"].pid, signal.SIGKILL)
        elif kind == "slow-heads":
            slow.open("half-head", 40, "127.0.0.2")
        elif kind == "short-bodies":
            slow.open("short-body", 5, "127.0.0.3")
        elif kind.startswith("kill-child-"):
            pid = wait_for_running(jobs, kind.removeprefix("kill-child-"))
            if pid is None:
                return False
            os.kill(pid, signal.SIGKILL)
        elif kind.startswith("kill-worker-"):
            queue = kind.removeprefix("kill-worker-")
            if wait_for_running(jobs, queue) is None:
                return False
            os.killpg(cluster.children[queue].pid, signal.SIGKILL)
        elif kind == "restart-redis":
            cluster.children["redis"].terminate()  # the supervisor starts it again
        elif kind == "kill-gateway-mid-upload":
            deadline = time.monotonic() + 15
            while not any(c.in_flight for c in clients):
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.005)
            os.killpg(cluster.children["gateway"].pid, signal.SIGKILL)
        elif kind == "blobs-read-only":
            mount.read_only(4)
        elif kind == "blobs-full":
            mount.full(4)
    except (ProcessLookupError, OSError, CatalogError) as exc:
        print(f"  {kind}: {exc}", flush=True)
        return False
    return True


def drain(jobs: JobStore, accepted: dict[str, int], end_by: float) -> tuple[int, int]:
    """Wait for every accepted job to end; returns (photos lost, photos finished)."""
    while True:
        lost = finished = 0
        for job_id, count in accepted.items():
            try:
                job = jobs.get_job(job_id)
            except Exception:  # Redis restarting
                job = None
                lost += count
                continue
            if job is None:
                lost += count
                continue
            ended = [i for i in job.images if i.status in IMAGE_ENDED]
            finished += len(ended)
            lost += len(job.images) - len(ended)
        if lost == 0 or time.monotonic() > end_by:
            return lost, finished
        time.sleep(2)


if __name__ == "__main__":
    sys.exit(main())

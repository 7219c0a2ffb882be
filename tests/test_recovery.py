"""No accepted photo is lost, whatever process dies: a whole worker killed mid-stage, a Redis
restart while the workers run, a message lost between the gateway and the queue, a job
deleted while its stage runs. A real cluster of its own (redis-server with an append-only
file, Celery workers, the gateway with its sweeper), with short heartbeat and sweep times so
the recovery shows within seconds."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis
from cluster import PROJECT, free_port, running_gateway, running_workers, wait_for_job, worker_command
from conftest import COFFEE

from shared.engine.dispatch import submit_images
from shared.engine.jobs import lifecycle
from shared.engine.jobs.create import create_job
from shared.engine.jobs.records import Upload
from shared.engine.jobs.store import JobStore
from shared.infra.storage import BlobStore

FAST_RECOVERY = {
    "CATALOG_HEARTBEAT_S": "0.5",
    "CATALOG_STALL_AFTER_S": "3",
    "CATALOG_SWEEP_INTERVAL_S": "1",
    "CATALOG_REDIS_WAIT_S": "60",
}
STAGES = [("detect",), ("pose",), ("segment",), ("color",)]


class PersistentRedis:
    """redis-server with an append-only file, which can be stopped and started again on the
    same port and keep what it had (as `make run` runs it)."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=open(self.folder / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client, deadline = redis.Redis(port=self.port), time.monotonic() + 20
        while True:
            with contextlib.suppress(redis.exceptions.ConnectionError):
                if client.ping():
                    return
            assert time.monotonic() < deadline, (self.folder / "redis.log").read_text()
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory, photos):
    base = tmp_path_factory.mktemp("recovery")
    server = PersistentRedis(base / "redis")
    server.start()
    storage = (base / "blobs").as_uri()
    try:
        with (
            running_workers(server.url, storage, base / "logs", STAGES, extra_env=FAST_RECOVERY) as cluster,
            running_gateway(cluster.env, base / "logs") as url,
        ):
            yield server, cluster, JobStore.from_url(server.url, BlobStore(storage)), url
    finally:
        server.stop(signal.SIGKILL)


def segment_running(jobs: JobStore, job_id: str, timeout: float = 120):
    """Wait until the photo's segment stage runs; returns its run."""
    deadline = time.monotonic() + timeout
    while True:
        image = jobs.get_image(job_id, "0")
        assert image is not None, f"job {job_id} has no photo 0"
        run = image.stages.get("segment")
        if run and run.status == "running" and run.pid:
            return run
        assert time.monotonic() < deadline and image.status != "ok", f"segment never seen running: {image}"
        time.sleep(0.02)


def new_job(jobs: JobStore, cluster, photos, send: bool = True):
    job, _ = create_job(jobs, "local", [Upload(COFFEE, photos[COFFEE])])
    if send:
        submit_images(job.id, jobs=jobs, app=cluster.app)
    return job


def test_a_whole_worker_killed_mid_stage_has_its_photo_picked_up_within_a_minute(recovery, photos):
    """SIGKILL to the segment worker's main process and pool child together: nothing requeues
    the message before the broker's visibility timeout (over ten minutes); the stage's
    heartbeat goes quiet and the sweeper sends it again to a worker that is up."""
    _, cluster, jobs, _ = recovery
    job = new_job(jobs, cluster, photos)
    run = segment_running(jobs, job.id)
    main = cluster.workers["segment@test"]
    os.killpg(main.pid, signal.SIGKILL)
    main.wait(10)
    started = time.monotonic()
    log = open(cluster.logs / "segment-2.log", "wb")
    replacement = subprocess.Popen(
        worker_command(("segment",), "segment@test"),
        cwd=PROJECT,
        env=cluster.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    cluster.workers["segment@test"] = replacement
    try:
        done = wait_for_job(jobs, job.id, timeout=90, cluster=cluster)
    finally:
        log.close()
    image = done.images[0]
    assert image.status == "ok", image.error
    assert image.stages["segment"].attempts == 2 and image.stages["segment"].pid != run.pid
    assert time.monotonic() - started < 60
    # Sent again once, not at every sweep while the new worker started.
    sweeps = "".join(path.read_text() for path in cluster.logs.glob("gateway-*.log"))
    assert sweeps.count(f"job={job.id} image=0 sending segment again") == 1


def test_a_redis_restart_while_the_workers_run_loses_no_photo(recovery, photos):
    """Redis stopped during a segment stage and started again once the stage has found it
    gone (its append-only file keeps the records and the queues): the stage waits for Redis
    and starts over; the photo ends ok and the job ends."""
    server, cluster, jobs, _ = recovery
    job = new_job(jobs, cluster, photos)
    segment_running(jobs, job.id)
    server.stop(signal.SIGTERM)
    logs = [cluster.logs / "segment.log", cluster.logs / "segment-2.log"]
    said = f"job={job.id} image=0 segment: Redis is out of reach"
    deadline = time.monotonic() + 90
    while not any(said in path.read_text(errors="replace") for path in logs if path.exists()):
        assert time.monotonic() < deadline, "the segment stage never found Redis gone"
        time.sleep(0.2)
    time.sleep(2)
    server.start()
    done = wait_for_job(jobs, job.id, timeout=180, cluster=cluster)
    assert done.status == "succeeded", [(i.status, i.error) for i in done.images]
    assert job.id not in jobs.redis.smembers(jobs.keys.active)


def test_a_photo_whose_message_was_lost_is_sent_again(recovery, photos):
    """The job is stored but its first stage never queued (a gateway that died between its
    answer and the send): the sweeper sends it."""
    _, cluster, jobs, _ = recovery
    job = new_job(jobs, cluster, photos, send=False)
    done = wait_for_job(jobs, job.id, timeout=120, cluster=cluster)
    assert done.status == "succeeded"


def test_a_job_deleted_while_its_stage_runs_leaves_no_file(recovery, photos):
    _, cluster, jobs, _ = recovery
    job = new_job(jobs, cluster, photos)
    segment_running(jobs, job.id)
    assert jobs.delete_job(job.id)
    deadline = time.monotonic() + 120
    # The stage that was running ends (its heartbeat goes), then cleans up after itself.
    while jobs.redis.exists(jobs.keys.beat(job.id, "0")) and time.monotonic() < deadline:
        time.sleep(0.2)
    while jobs.blobs.list(f"jobs/{job.id}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert jobs.blobs.list(f"jobs/{job.id}") == []
    time.sleep(2)  # nothing comes back
    assert jobs.blobs.list(f"jobs/{job.id}") == []


def test_a_duplicate_message_does_not_run_a_stage_another_worker_runs(recovery):
    """Two messages for one stage (a sweep that raced a slow worker): the second claim sees
    the first's heartbeat and skips."""
    _, _, jobs, _ = recovery
    job, _ = create_job(jobs, "local", [Upload("a.png", b"x")])
    first = lifecycle.claim(jobs, job.id, "0", "detect", worker="detect@a", pid=os.getpid())
    assert first.action == "run"
    lifecycle.beat(jobs, job.id, "0", worker="detect@a", pid=os.getpid(), ttl_s=30)
    assert lifecycle.claim(jobs, job.id, "0", "detect", worker="detect@b", pid=1).action == "skip"
    lifecycle.end_beat(jobs, job.id, "0")  # the first worker died: its beat goes
    assert lifecycle.claim(jobs, job.id, "0", "detect", worker="detect@b", pid=1).action == "run"
    jobs.delete_job(job.id)

"""The cluster core with real Redis and real worker processes (no mocks): job records,
the blob store (file://, memory:// and S3 through a local moto server), the Celery stage
chain across the four service queues, and its equality with the in-process pipeline.

The workers are the conftest `cluster` fixture: redis-server on a free port and one
`celery worker` process per queue, started once for the session. The main job is submitted
through the gateway (conftest `api_job`); tests/test_gateway.py covers the API itself.
"""

from __future__ import annotations

import io
import os
import signal
import threading
import time
import zipfile
from pathlib import Path

import pytest
from cluster import QUEUES, make_bucket, running_gateway, running_moto, running_workers, s3_env, wait_for_job
from conftest import COFFEE, CORRUPT, CORRUPT_WORDS, PACKSHOT, PERSON, encode

from shared.domain.records import Options
from shared.engine.chain import STAGES
from shared.engine.jobs import lifecycle
from shared.engine.jobs.create import create_job
from shared.engine.jobs.keys import catalog_key, input_key, owner_of
from shared.engine.jobs.records import Upload
from shared.engine.jobs.store import JobStore
from shared.engine.manifest import job_manifest
from shared.infra.storage import BlobNotFound, BlobStore


def end(jobs: JobStore, job_id: str, image, error: str | None = None) -> bool:
    """End a photo as the last stage does: ok, or failed with the error."""
    if error:
        return lifecycle.fail(jobs, job_id, image, stage=None, error=error, code="internal")
    return lifecycle.finish(jobs, job_id, image, stage=None, ms=1.0, models=[])


def submit(jobs: JobStore, app, photos: dict[str, bytes], **kwargs):
    from shared.engine.dispatch import submit_images

    job, created = create_job(jobs, "local", [Upload(name, data) for name, data in photos.items()], **kwargs)
    assert created
    assert submit_images(job.id, jobs=jobs, app=app) == len(photos)
    return job


@pytest.fixture(scope="module")
def finished_job(api_job, cluster_jobs):
    """The main job (conftest api_job: submitted through the gateway), as its record says."""
    return cluster_jobs.get_job(api_job.id, states=True)


# --- the main job ------------------------------------------------------------------------------------


def test_job_with_a_corrupt_file_is_partial_and_the_corrupt_file_says_why(finished_job):
    job = finished_job
    assert job.status == "partial"
    assert (job.progress.done, job.progress.total, job.progress.failed) == (4, 4, 1)
    by_name = {i.source: i for i in job.images}
    assert [i.source for i in job.images] == [PERSON, COFFEE, PACKSHOT, CORRUPT]
    bad = by_name[CORRUPT]
    assert bad.status == "failed" and bad.error_code == "corrupt"
    assert any(words in bad.error for words in CORRUPT_WORDS), bad.error
    assert "internal error" not in bad.error
    assert bad.stages["detect"].status == "failed" and bad.stages["detect"].attempts == 1  # bad input: no retry
    for name in (PERSON, COFFEE, PACKSHOT):
        assert by_name[name].status == "ok", by_name[name].error
        assert by_name[name].stage is None and by_name[name].error is None
    assert job.finished and job.created <= job.finished


def test_cluster_manifest_equals_the_in_process_manifest(finished_job, cluster_jobs, in_process):
    _, reference = in_process
    manifest = job_manifest(cluster_jobs, finished_job)
    assert [r.source for r in manifest.images] == [PERSON, COFFEE, PACKSHOT, CORRUPT]
    for record in manifest.images:
        expected = reference[record.source]
        assert record.status == expected.status
        if record.status == "failed":
            assert record.error == expected.error and record.items == []
            continue
        for field in ("kind", "width", "height", "people", "preview", "keypoints"):
            assert getattr(record, field) == getattr(expected, field), f"{record.source}: {field}"
        assert [i.box for i in record.items] == [i.box for i in expected.items], record.source
        assert [(i.garment, i.category) for i in record.items] == [(i.garment, i.category) for i in expected.items]
        assert [i.color.hex for i in record.items] == [i.color.hex for i in expected.items], record.source
        # Same code, same models, same inputs: the whole items agree, scores and files too.
        assert record.items == expected.items, record.source
        assert set(record.timings_ms) == set(expected.timings_ms)
    kinds = {r.source: r.kind for r in manifest.images}
    assert kinds == {PERSON: "person", COFFEE: "product", PACKSHOT: "product", CORRUPT: None}


def test_cluster_artifacts_are_the_in_process_files_byte_for_byte(finished_job, cluster_jobs, in_process):
    out, _ = in_process
    manifest = job_manifest(cluster_jobs, finished_job)
    compared = 0
    for record in manifest.images:
        paths = [record.preview] + [p for i in record.items for p in (i.files.image, i.files.cutout, i.files.swatch)]
        for path in filter(None, paths):
            assert cluster_jobs.blobs.get(catalog_key(finished_job.id, path)) == (out / path).read_bytes(), path
            compared += 1
    ok = [r for r in manifest.images if r.status == "ok"]
    assert compared == len(ok) + 3 * sum(len(r.items) for r in ok) and len(ok) == 3
    # The finished job's catalog folder is the CLI's: manifest.json and index.html too.
    stored = cluster_jobs.blobs.get(catalog_key(finished_job.id, "manifest.json"))
    assert type(manifest).model_validate_json(stored) == manifest
    page = cluster_jobs.blobs.get(catalog_key(finished_job.id, "index.html")).decode()
    assert "manifest.json" in page and f"{Path(PERSON).stem}/preview.jpg" in page
    # Intermediates go once an image ends (just after its record says so); the originals
    # stay until the job is deleted.
    deadline = time.monotonic() + 10
    while cluster_jobs.blobs.list(f"jobs/{finished_job.id}/work") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert cluster_jobs.blobs.list(f"jobs/{finished_job.id}/work") == []
    assert cluster_jobs.blobs.exists(input_key(finished_job.id, "0"))


def test_each_stage_ran_on_its_own_queue_and_loaded_only_its_models(finished_job):
    # The models each service may load: its own, and the classifier for pose (garments)
    # and segment (products).
    allowed = {
        "detect": {
            "selfie-segmentation",
            "face-detection-full-range",
            "ssd-mobilenet-v2-coco-int8",
            "hand-landmark-full",
        },
        "pose": {"blazepose-heavy", "efficientnet-lite2"},
        "segment": {"isnet-medium", "isnet-medium-int8", "efficientnet-lite2", "ppocr-v4-detect"},
        "color": set(),
    }
    for image in finished_job.images:
        if image.status != "ok":
            continue
        # A product photo goes through pose only when the person matte saw someone there.
        plans = (
            [["detect", "pose", "segment", "color"]]
            if image.state.kind == "person"
            else [["detect", "segment", "color"], ["detect", "pose", "segment", "color"]]
        )
        assert list(image.stages) in plans, image.source
        assert image.state.done == list(image.stages)
        for stage, run in image.stages.items():
            assert run.status == "done" and run.attempts == 1 and run.ms > 0
            assert run.worker == f"{stage}@test", f"{image.source}: {stage} ran on {run.worker}"
            assert set(run.models) <= allowed[stage], f"{stage} loaded {run.models}"
        # The matte ran (int8 on a CPU, fp32 where int8 was unsure or on CUDA).
        assert {"isnet-medium", "isnet-medium-int8"} & set(image.stages["segment"].models)
        assert "selfie-segmentation" in image.stages["detect"].models


def test_worker_log_lines_name_the_job_and_the_photo(finished_job, cluster):
    """Every line a worker logs about a task, Celery's own (received, succeeded) included,
    says which job and photo it is about."""
    for queue in STAGES:
        lines = (cluster.logs / f"{queue}.log").read_text(errors="replace").splitlines()
        task_lines = [line for line in lines if "Task catalog." in line]
        assert task_lines, f"the {queue} worker logged no task"
        for line in task_lines:
            assert " job=- " not in line and " image=- " not in line, line
        assert any(f"job={finished_job.id} image=" in line for line in task_lines), queue
    # A job's webhook call is about no one photo: its lines name the job.
    lines = (cluster.logs / "webhooks.log").read_text(errors="replace").splitlines()
    assert all(" job=- " not in line for line in lines if "Task catalog." in line)
    segment = (cluster.logs / "segment.log").read_text(errors="replace")
    assert f"job={finished_job.id} image=0 " in segment  # the person photo, the job's first


def test_a_missing_original_fails_its_image_without_retrying(cluster, cluster_jobs, coffee):
    """A fault that will not heal (the stored original is gone) fails the image through the
    task's on_failure, with the reason, at once."""
    from shared.engine.dispatch import submit_images

    job, _ = create_job(cluster_jobs, "local", [Upload("cup.png", encode(coffee[:100, :100]))])
    cluster_jobs.blobs.delete(input_key(job.id, "0"))
    submit_images(job.id, jobs=cluster_jobs, app=cluster.app)
    done = wait_for_job(cluster_jobs, job.id, timeout=60, cluster=cluster)
    image = done.images[0]
    assert done.status == "failed" and image.status == "failed"
    assert "internal error" in image.error and "BlobNotFound" in image.error
    assert image.stages["detect"].attempts == 1


def test_a_worker_process_killed_mid_task_has_its_task_redelivered(cluster, cluster_jobs, in_process, photos):
    """SIGKILL to the segment worker's pool process while ISNet runs: with late acks and
    reject_on_worker_lost the task goes back to the queue and a fresh process runs it."""
    job = submit(cluster_jobs, cluster.app, {COFFEE: photos[COFFEE]})
    main_pid = cluster.workers["segment@test"].pid
    deadline = time.monotonic() + 120
    while True:
        image = cluster_jobs.get_image(job.id, "0")
        run = image.stages.get("segment")
        if run and run.status == "running" and run.pid:
            break
        assert time.monotonic() < deadline and image.status != "ok", f"segment never seen running: {image}"
        time.sleep(0.02)
    assert run.pid != main_pid
    os.kill(run.pid, signal.SIGKILL)
    done = wait_for_job(cluster_jobs, job.id, timeout=180, cluster=cluster)
    image = done.images[0]
    assert image.status == "ok", image.error
    assert image.stages["segment"].attempts == 2 and image.stages["segment"].pid != run.pid
    _, reference = in_process
    assert job_manifest(cluster_jobs, done).images[0].items == reference[COFFEE].items


@pytest.mark.parametrize("limit", ["soft", "hard"])
def test_time_limits_fail_the_image_with_a_reason(limit, redis_url, tmp_path, photos):
    """The soft limit raises inside the task; the hard limit kills the pool process and
    Celery calls the task's on_failure in the worker's main process. Either way the image
    fails with a reason and the job ends. One worker on all queues with a 1 s limit: some
    stage of a cold worker (model loading, ISNet) takes longer."""
    env = (
        {"CATALOG_TASK_SOFT_TIME_LIMIT": "1", "CATALOG_TASK_TIME_LIMIT": "600"}
        if limit == "soft"
        else {"CATALOG_TASK_SOFT_TIME_LIMIT": "0", "CATALOG_TASK_TIME_LIMIT": "1"}
    )
    url = redis_url.rsplit("/", 1)[0] + ("/2" if limit == "soft" else "/3")
    storage = (tmp_path / "blobs").as_uri()
    with running_workers(url, storage, tmp_path / "logs", [QUEUES], extra_env=env) as limited:
        jobs = JobStore.from_url(url, BlobStore(storage))
        job = submit(jobs, limited.app, {COFFEE: photos[COFFEE]})
        done = wait_for_job(jobs, job.id, timeout=120, cluster=limited)
    image = done.images[0]
    assert done.status == "failed" and image.status == "failed" and image.error_code == "timeout", image.error
    stage = next(s for s, run in image.stages.items() if run.status == "failed")
    assert image.error == f"timed out in the {stage} stage ({limit} time limit)"


# --- job records ----------------------------------------------------------------------------------


@pytest.fixture
def jobs(redis_url, tmp_path):
    """A JobStore on the session's Redis (in its own namespace) and a fresh file store."""
    return JobStore.from_url(redis_url, BlobStore(tmp_path.as_uri()), namespace=f"t{time.monotonic_ns()}")


def test_create_job_with_the_same_idempotency_key_returns_the_same_job(jobs):
    uploads = [Upload("a.jpg", b"one"), Upload("b.jpg", b"two")]
    first, created = create_job(jobs, owner_of("key-1"), uploads, Options(format="png"), idempotency_key="order-7")
    again, created_again = create_job(jobs, owner_of("key-1"), [Upload("other.jpg", b"x")], idempotency_key="order-7")
    assert created and not created_again
    assert again.id == first.id and [i.source for i in again.images] == ["a.jpg", "b.jpg"]
    assert again.options.format == "png"
    other, created_other = create_job(jobs, owner_of("key-2"), uploads, idempotency_key="order-7")
    assert created_other and other.id != first.id  # keys are per owner
    assert jobs.get_job(first.id, owner=owner_of("key-2")) is None  # and jobs too
    assert jobs.get_job(first.id, owner=owner_of("key-1")).id == first.id
    assert jobs.list_jobs(owner_of("key-1")) == [first.id]
    assert jobs.blobs.get(input_key(first.id, "1")) == b"two"


def test_concurrent_create_with_one_idempotency_key_makes_one_job(jobs):
    results = []
    barrier = threading.Barrier(8)

    def create():
        barrier.wait()
        results.append(create_job(jobs, "local", [Upload("a.jpg", b"x")], idempotency_key="same"))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({job.id for job, _ in results}) == 1
    assert sum(created for _, created in results) == 1


def test_new_job_record_and_refused_uploads(jobs):
    job, _ = create_job(
        jobs,
        "local",
        [
            Upload("x.jpg", b"1"),
            Upload("x.jpg", b"2"),
            Upload("bad.txt", error="not a supported image", error_code="unsupported"),
        ],
    )
    assert job.status == "queued" and (job.progress.done, job.progress.total, job.progress.failed) == (1, 3, 1)
    assert [i.slug for i in job.images] == ["x", "x-2", "bad"]
    assert [i.status for i in job.images] == ["queued", "queued", "failed"]
    assert job.images[2].error == "not a supported image" and not jobs.blobs.exists(input_key(job.id, "2"))
    assert '"status":"queued"' in job.model_dump_json()  # the derived status is serialised
    assert "state" not in job.images[0].model_dump()  # the internal state is not
    all_bad, _ = create_job(jobs, "local", [Upload("bad.txt", error="empty file (0 bytes)", error_code="empty")])
    assert all_bad.status == "failed" and all_bad.finished
    assert job_manifest(jobs, all_bad).images[0].error == "empty file (0 bytes)"  # manifest.json written at once
    assert jobs.blobs.exists(catalog_key(all_bad.id, "manifest.json"))
    with pytest.raises(ValueError):
        create_job(jobs, "local", [])


def test_images_finishing_at_once_count_exactly_and_one_finishes_the_job(jobs):
    n = 24
    job, _ = create_job(jobs, "local", [Upload(f"{i}.jpg", b"x") for i in range(n)])
    images = jobs.get_job(job.id, states=True).images
    finished, barrier = [], threading.Barrier(n)

    def finish(image):
        barrier.wait()
        error = "bad" if int(image.id) % 3 == 0 else None
        finished.append(end(jobs, job.id, image, error))
        finished.append(end(jobs, job.id, image, error))  # a duplicate counts nothing

    threads = [threading.Thread(target=finish, args=(image,)) for image in images]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert finished.count(True) == 1
    done = jobs.get_job(job.id)
    assert (done.progress.done, done.progress.failed) == (n, n // 3)
    assert done.status == "partial" and done.finished


def test_a_stage_is_claimed_once_and_a_redelivered_stage_resends_the_next(jobs):
    job, _ = create_job(jobs, "local", [Upload("a.jpg", b"x")])
    claim = lifecycle.claim(jobs, job.id, "0", "detect", worker="w", pid=1)
    assert claim.action == "run" and claim.image.stages["detect"].attempts == 1
    assert jobs.get_job(job.id).status == "running"
    assert lifecycle.claim(jobs, job.id, "0", "pose", worker="w", pid=1).action == "skip"  # not there yet
    image = claim.image
    image.state.kind, image.state.done = "product", ["detect"]
    assert lifecycle.advance(jobs, job.id, "0", "detect", image, "segment", ms=5.0, models=[])
    # detect delivered again after its result was saved: the next stage may not have been sent.
    again = lifecycle.claim(jobs, job.id, "0", "detect", worker="w", pid=1)
    assert again.action == "resend" and again.image.stage == "segment"
    assert lifecycle.claim(jobs, job.id, "0", "segment", worker="w", pid=2).action == "run"
    assert lifecycle.claim(jobs, job.id, "0", "detect", worker="w", pid=1).action == "skip"  # segment has started
    assert end(jobs, job.id, image, error="x")
    assert lifecycle.claim(jobs, job.id, "0", "segment", worker="w", pid=2).action == "skip"  # ended
    assert jobs.delete_job(job.id) and jobs.get_job(job.id) is None
    assert lifecycle.claim(jobs, job.id, "0", "segment", worker="w", pid=2).action == "skip"  # gone
    assert not jobs.blobs.exists(input_key(job.id, "0"))


def test_a_stage_started_too_often_gives_up(jobs):
    job, _ = create_job(jobs, "local", [Upload("a.jpg", b"x")])
    actions = [
        lifecycle.claim(jobs, job.id, "0", "detect", worker="w", pid=1).action
        for _ in range(lifecycle.MAX_STAGE_ATTEMPTS + 1)
    ]
    assert actions == ["run"] * lifecycle.MAX_STAGE_ATTEMPTS + ["give_up"]


def test_catalog_keys_refuse_paths_that_leave_the_catalog():
    assert catalog_key("j1", "look/top.jpg") == "jobs/j1/catalog/look/top.jpg"
    for bad in ("../inputs/0", "/etc/passwd", "look/../../x", "", "a//b", "a\\b"):
        with pytest.raises(ValueError):
            catalog_key("j1", bad)


# --- the blob store, and S3 end to end ---------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on a free loopback port with a bucket; AWS_* test credentials set
    for this module. Yields (endpoint, bucket)."""
    pytest.importorskip("moto.server", reason="moto[server] is in the test extra")
    saved = {k: os.environ.get(k) for k in s3_env()}
    os.environ.update(s3_env())
    try:
        with running_moto() as endpoint:
            make_bucket(endpoint, "catalog-test")
            yield endpoint, "catalog-test"
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(params=["file", "memory", "s3"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "file":
        return BlobStore(tmp_path.as_uri())
    if request.param == "memory":
        return BlobStore(f"memory://test-{time.monotonic_ns()}")
    endpoint, bucket = request.getfixturevalue("s3")
    return BlobStore(f"s3://{bucket}/t{time.monotonic_ns()}", endpoint_url=endpoint)


def test_blob_store_put_get_list_stream_delete(store):
    store.put("jobs/1/a/top.jpg", b"\xff\xd8 top")
    store.put("jobs/1/b.png", b"png")
    store.put("jobs/10/c.png", b"other job")
    assert store.get("jobs/1/a/top.jpg") == b"\xff\xd8 top"
    assert store.exists("jobs/1/b.png") and not store.exists("jobs/1/nope") and store.size("jobs/1/b.png") == 3
    assert store.list("jobs/1") == ["jobs/1/a/top.jpg", "jobs/1/b.png"]  # not jobs/10
    with store.open("jobs/2/big.bin", "wb") as f:
        for _ in range(4):
            f.write(b"x" * 1_000_000)
    with store.open("jobs/2/big.bin") as f:
        assert f.read(10) == b"x" * 10 and len(f.read()) == 4_000_000 - 10
    with pytest.raises(BlobNotFound):
        store.get("jobs/1/missing")
    with pytest.raises(FileNotFoundError):
        store.open("jobs/1/missing").read()
    for bad in ("../x", "/abs", "a/../b", ""):
        with pytest.raises(ValueError):
            store.put(bad, b"")
    assert store.delete_prefix("jobs/1") == 2
    assert store.list("jobs/1") == [] and store.get("jobs/10/c.png") == b"other job"


def test_file_store_takes_a_percent_encoded_file_url(tmp_path):
    folder = tmp_path / "a folder" / "ünï#"
    store = BlobStore(folder.as_uri())  # file:///.../a%20folder/%C3%BCn%C3%AF%23
    store.put("jobs/1/top.jpg", b"x")
    assert (folder / "jobs" / "1" / "top.jpg").read_bytes() == b"x"
    assert store.list("jobs") == ["jobs/1/top.jpg"]


def test_s3_end_to_end_through_the_gateway_and_a_worker_on_s3(s3, redis_url, tmp_path, photos, in_process):
    """The blob store on S3 for the gateway and the workers: one worker serving all four
    queues, a person photo and a packshot posted to the gateway, the same catalog as
    in-process, its files and archive served by the gateway from S3."""
    import httpx

    endpoint, bucket = s3
    storage = f"s3://{bucket}/e2e"
    env = {**s3_env(), "CATALOG_S3_ENDPOINT_URL": endpoint}
    s3_redis = redis_url.rsplit("/", 1)[0] + "/1"  # its own database: its own queues
    with (
        running_workers(s3_redis, storage, tmp_path / "logs", [QUEUES], extra_env=env) as s3_cluster,
        running_gateway(s3_cluster.env, tmp_path / "logs") as url,
    ):
        jobs = JobStore.from_url(s3_redis, BlobStore(storage, endpoint_url=endpoint))
        files = [("files", (name, photos[name])) for name in (PERSON, PACKSHOT)]
        accepted = httpx.post(f"{url}/v1/jobs", files=files, timeout=60)
        assert accepted.status_code == 202, accepted.text
        done = wait_for_job(jobs, accepted.json()["id"], timeout=300, cluster=s3_cluster)
        deadline = time.monotonic() + 10  # intermediates go just after the image's end
        while jobs.blobs.list(f"jobs/{done.id}/work") and time.monotonic() < deadline:
            time.sleep(0.1)
        manifest = httpx.get(f"{url}/v1/jobs/{done.id}/manifest", timeout=60).json()
        first_cutout = manifest["images"][0]["items"][0]["files"]["cutout"]
        served = httpx.get(first_cutout, timeout=60)
        archive = httpx.get(f"{url}/v1/jobs/{done.id}/archive", timeout=60)
    assert done.status == "succeeded"
    out, reference = in_process
    for record in job_manifest(jobs, done).images:
        assert record.items == reference[record.source].items
        for item in record.items:
            assert jobs.blobs.get(catalog_key(done.id, item.files.cutout)) == (out / item.files.cutout).read_bytes()
    keys = BlobStore(f"s3://{bucket}", endpoint_url=endpoint).list(f"e2e/jobs/{done.id}")
    assert f"e2e/jobs/{done.id}/catalog/manifest.json" in keys
    assert not any("/work/" in k for k in keys)
    first = job_manifest(jobs, done).images[0]
    assert served.status_code == 200 and served.content == (out / first.items[0].files.cutout).read_bytes()
    assert served.headers["content-type"] == "image/png"
    names = set(zipfile.ZipFile(io.BytesIO(archive.content)).namelist())
    assert {"manifest.json", "index.html", first.preview, first.items[0].files.cutout} <= names

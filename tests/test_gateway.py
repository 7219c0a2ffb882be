"""The gateway over HTTP, in front of the real cluster (conftest `gateway`: its own
redis-server, four worker processes, uvicorn): the job API, keys, upload checks, files and
the archive, the signed webhook, health and metrics. The main job (conftest `api_job`) is a
person photo, two packshots and a corrupt file; tests/test_cluster.py checks that its
catalog equals the in-process pipeline's."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest
from cluster import running_gateway
from conftest import API_KEYS, BOTTLE, COFFEE, CORRUPT, CORRUPT_WORDS, PACKSHOT, PERSON, encode, png_header

from shared.domain.records import Manifest
from shared.engine.jobs.keys import owner_of
from shared.engine.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


def client(gateway, key: str | None = "first") -> httpx.Client:
    """An HTTP client of the gateway with the first key, the second, none, or the given one."""
    named = {"first": gateway.api_keys[0], "second": gateway.api_keys[1]}
    chosen = named.get(key, key) if key else None
    return httpx.Client(base_url=gateway.url, headers={"X-API-Key": chosen} if chosen else {}, timeout=60)


def post_job(http: httpx.Client, files: dict[str, bytes], **fields) -> httpx.Response:
    headers = {"Idempotency-Key": fields.pop("idempotency_key")} if "idempotency_key" in fields else {}
    return http.post("/v1/jobs", files=[("files", (n, d)) for n, d in files.items()], data=fields, headers=headers)


def wait_finished(http: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while (body := http.get(f"/v1/jobs/{job_id}").json())["finished"] is None:
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    return body


# --- the main job ------------------------------------------------------------------------------------


def test_post_answers_202_with_the_job_and_its_status_url(api_job, gateway):
    accepted = api_job.accepted
    body = accepted.json()
    assert accepted.headers["location"] == f"/v1/jobs/{api_job.id}"
    assert body["status"] in ("queued", "running") and body["progress"]["total"] == 4
    assert [i["source"] for i in body["images"]] == [PERSON, COFFEE, PACKSHOT, CORRUPT]
    assert body["links"]["self"] == f"{gateway.url}/v1/jobs/{api_job.id}"
    assert "owner" not in body and "idempotency_key" not in body


def test_finished_job_is_partial_with_the_corrupt_file_reason(api_job):
    job = api_job.final
    assert job["status"] == "partial" and job["progress"] == {"done": 4, "total": 4, "failed": 1}
    images = {i["source"]: i for i in job["images"]}
    assert {name: i["status"] for name, i in images.items()} == {
        PERSON: "ok",
        COFFEE: "ok",
        PACKSHOT: "ok",
        CORRUPT: "failed",
    }
    assert any(words in images[CORRUPT]["error"] for words in CORRUPT_WORDS), images[CORRUPT]["error"]
    assert images[PERSON]["stages"]["segment"]["status"] == "done"


def test_manifest_has_urls_that_serve_every_file(api_job, gateway, in_process):
    out, reference = in_process
    with client(gateway) as http:
        manifest = Manifest.model_validate(http.get(f"/v1/jobs/{api_job.id}/manifest").json())
        prefix = f"{gateway.url}/v1/jobs/{api_job.id}/files/"
        served = 0
        for record in manifest.images:
            expected = reference[record.source]
            assert [(i.garment, i.category, i.box, i.color) for i in record.items] == [
                (i.garment, i.category, i.box, i.color) for i in expected.items
            ]
            pairs = [(record.preview, expected.preview)] + [
                (getattr(got.files, f), getattr(want.files, f))
                for got, want in zip(record.items, expected.items)
                for f in ("image", "cutout", "swatch")
            ]
            for url, path in pairs:
                if path is None:
                    continue
                assert url == prefix + path
                response = http.get(url)
                assert response.status_code == 200 and response.content == (out / path).read_bytes(), path
                served += 1
        assert served == 3 + 3 * sum(len(r.items) for r in manifest.images)
        assert http.get(prefix + "manifest.json").json()["images"][0]["source"] == PERSON


def test_archive_is_the_whole_catalog(api_job, gateway, in_process):
    out, _ = in_process
    with client(gateway) as http:
        response = http.get(f"/v1/jobs/{api_job.id}/archive")
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    assert f"catalog-{api_job.id}.zip" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = Manifest.model_validate_json(archive.read("manifest.json"))  # relative paths, as the CLI writes
    named = {
        p
        for r in manifest.images
        for p in [r.preview] + [f for i in r.items for f in (i.files.image, i.files.cutout, i.files.swatch)]
        if p
    }
    assert named and named | {"manifest.json", "index.html"} == set(archive.namelist())
    for path in named:
        assert archive.read(path) == (out / path).read_bytes(), path


def test_webhook_gets_one_correctly_signed_call(api_job, gateway, webhook_receiver):
    calls = webhook_receiver.calls_to(api_job.webhook_path)
    assert len(calls) == 1
    call = calls[0]
    assert verify(gateway.webhook_secret, call.headers[TIMESTAMP_HEADER], call.body, call.headers[SIGNATURE_HEADER])
    assert not verify("another secret", call.headers[TIMESTAMP_HEADER], call.body, call.headers[SIGNATURE_HEADER])
    payload = json.loads(call.body)
    assert payload["event"] == "job.finished"
    assert payload["job"]["id"] == api_job.id and payload["job"]["status"] == "partial"
    assert payload["links"]["manifest"] == f"{gateway.url}/v1/jobs/{api_job.id}/manifest"
    with client(gateway) as http:
        assert http.get(f"/v1/jobs/{api_job.id}").json()["webhook"]["status"] == "delivered"


def test_webhook_is_retried_when_the_receiver_fails(gateway, webhook_receiver, coffee):
    webhook_receiver.failures["/hooks/flaky"] = [503]
    with client(gateway) as http:
        job = post_job(http, {"cup.png": encode(coffee[:150, :150])}, webhook_url=webhook_receiver.url + "/hooks/flaky")
        wait_finished(http, job.json()["id"])
        calls = webhook_receiver.calls_to("/hooks/flaky", count=2, timeout=60)
        assert len(calls) == 2  # 503, then 200 after the backoff
        assert json.loads(calls[0].body) == json.loads(calls[1].body)
        assert http.get(f"/v1/jobs/{job.json()['id']}").json()["webhook"] == {
            "url": webhook_receiver.url + "/hooks/flaky",
            "status": "delivered",
            "attempts": 2,
            "error": None,
        }


def test_with_keys_on_webhooks_to_private_addresses_are_refused(cluster, tmp_path, monkeypatch):
    from shared.engine import webhooks
    from shared.infra.settings import Settings

    env = {k: v for k, v in cluster.env.items() if k != "CATALOG_WEBHOOK_ALLOW_PRIVATE"}  # keys on, no opt-in
    with running_gateway(env, tmp_path) as url:
        for target in (
            "http://127.0.0.1:6379/",
            "http://localhost/hook",
            "http://10.0.0.7/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[::127.0.0.1]/hook",
            "http://[64:ff9b::a9fe:a9fe]/hook",
            "http://[fe80::1%25lo]/hook",
            "http://localhost./hook",
        ):
            response = httpx.post(
                f"{url}/v1/jobs",
                files=[("files", (PACKSHOT, BOTTLE.read_bytes()))],
                data={"webhook_url": target},
                headers={"X-API-Key": API_KEYS[0]},
            )
            assert response.status_code == 422, target
            detail = response.json()["detail"]
            assert any(w in detail for w in ("not a public one", "link", "does not resolve")), (target, detail)
    keys_on = Settings(api_keys=["k"])
    monkeypatch.setattr(webhooks, "settings", lambda: keys_on)
    assert webhooks.refused_destination("https://93.184.216.34/hook") is None  # a public address
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=[]))  # keys off: local use
    assert webhooks.refused_destination("http://127.0.0.1:9000/hook") is None
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=["k"], webhook_allow_private=True))
    assert webhooks.refused_destination("http://10.0.0.7/hook") is None


# --- idempotency, keys, isolation ----------------------------------------------------------------


def test_resubmission_with_the_same_idempotency_key_returns_the_same_job(api_job, gateway, photos, webhook_receiver):
    with client(gateway) as http:
        # The same request again (a client retrying): the same files and fields.
        again = post_job(
            http, photos, idempotency_key="main-job-1", webhook_url=webhook_receiver.url + api_job.webhook_path
        )
        assert again.status_code == 202 and again.json()["id"] == api_job.id
        assert again.headers["idempotent-replayed"] == "true"
        assert [j["id"] for j in http.get("/v1/jobs").json()["jobs"]].count(api_job.id) == 1
    # The key is per API key: another caller's same key makes its own job.
    with client(gateway, "second") as other:
        theirs = post_job(other, {PACKSHOT: BOTTLE.read_bytes()}, idempotency_key="main-job-1")
        assert theirs.status_code == 202 and theirs.json()["id"] != api_job.id


def test_another_key_sees_none_of_the_job(api_job, gateway):
    base = f"/v1/jobs/{api_job.id}"
    with client(gateway, "second") as other:
        for path in (base, f"{base}/manifest", f"{base}/archive", f"{base}/files/manifest.json"):
            response = other.get(path)
            assert response.status_code == 404 and response.json()["detail"] == f"no job {api_job.id}", path
        assert other.delete(base).status_code == 404
        assert api_job.id not in [j["id"] for j in other.get("/v1/jobs").json()["jobs"]]
    with client(gateway) as http:
        assert http.get(base).status_code == 200  # still there for its owner
        assert api_job.id in [j["id"] for j in http.get("/v1/jobs").json()["jobs"]]


def test_a_missing_or_unknown_key_is_401(gateway):
    for key in (None, "not-a-key"):
        with client(gateway, key) as http:
            response = http.get("/v1/jobs")
            assert response.status_code == 401 and "API key" in response.json()["detail"]
    with client(gateway, None) as http:
        bearer = http.get("/v1/jobs", headers={"Authorization": f"Bearer {gateway.api_keys[1]}"})
        assert bearer.status_code == 200


# --- files, traversal, archive, delete ------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["..%2F..%2Fetc%2Fpasswd", "..%2Finputs%2F0", "%2Fetc%2Fpasswd", "a%5C..%5Cb", "cup%2F.%2Fx.jpg"]
)
def test_a_file_path_leaving_the_catalog_is_refused(api_job, gateway, path):
    with client(gateway) as http:
        response = http.get(f"{gateway.url}/v1/jobs/{api_job.id}/files/{path}")
    assert response.status_code == 400, response.text
    assert "invalid file path" in response.json()["detail"]


def test_a_missing_file_is_404(api_job, gateway):
    with client(gateway) as http:
        assert http.get(f"/v1/jobs/{api_job.id}/files/nothing/here.jpg").status_code == 404


def test_upload_names_are_labels_never_paths(gateway, coffee):
    with client(gateway) as http:
        response = post_job(http, {"../../../etc/cup.png": encode(coffee[:150, :150])})
        body = response.json()
        assert response.status_code == 202
        assert body["images"][0]["source"] == "cup.png" and body["images"][0]["slug"] == "cup"
        http.delete(f"/v1/jobs/{body['id']}")


def test_archive_of_a_running_job_is_409_and_delete_removes_everything(gateway, coffee):
    with client(gateway) as http:
        job = post_job(http, {"cup.png": encode(coffee)}).json()
        response = http.get(f"/v1/jobs/{job['id']}/archive")
        assert response.status_code == 409 and "still" in response.json()["detail"]
        wait_finished(http, job["id"])
        assert gateway.jobs.blobs.list(f"jobs/{job['id']}")
        assert http.delete(f"/v1/jobs/{job['id']}").status_code == 204
        assert http.get(f"/v1/jobs/{job['id']}").status_code == 404
        assert gateway.jobs.blobs.list(f"jobs/{job['id']}") == []
        assert http.delete(f"/v1/jobs/{job['id']}").status_code == 404


# --- checks before a job is accepted ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name, data, status, words",
    [
        ("notes.txt", b"two mugs and a teapot\n" * 20, 415, "not a supported image"),
        ("empty.jpg", b"", 422, "empty file"),
        ("bomb.png", png_header(30000, 30000), 413, "too large"),
        ("over.png", png_header(8000, 7000), 413, "the limit is 50 megapixels"),
        ("tiny.png", png_header(20, 20), 422, "too small"),
        ("damaged.png", png_header(400, 300)[:20] + b"\x00" * 20, 422, "corrupt"),
    ],
)
def test_a_job_whose_every_file_is_bad_is_refused_with_the_reason(gateway, name, data, status, words):
    with client(gateway) as http:
        before = len(http.get("/v1/jobs").json()["jobs"])
        response = post_job(http, {name: data})
        assert response.status_code == status, response.text
        body = response.json()
        assert words in body["detail"] and name in body["detail"]
        assert body["files"][0]["name"] == name and words in body["files"][0]["error"]
        assert len(http.get("/v1/jobs").json()["jobs"]) == before  # nothing stored


def test_bad_files_for_different_reasons_are_422_with_each_reason(gateway):
    with client(gateway) as http:
        response = post_job(http, {"a.txt": b"hello", "b.jpg": b""})
    assert response.status_code == 422
    assert [(f["name"], f["code"]) for f in response.json()["files"]] == [("a.txt", "unsupported"), ("b.jpg", "empty")]


def test_good_files_are_accepted_beside_bad_ones(gateway, coffee):
    with client(gateway) as http:
        response = post_job(http, {"cup.png": encode(coffee[:150, :150]), "notes.txt": b"hello" * 10})
        assert response.status_code == 202
        images = response.json()["images"]
        assert images[0]["status"] == "queued"
        assert images[1]["status"] == "failed" and "not a supported image" in images[1]["error"]
        done = wait_finished(http, response.json()["id"])
        assert done["status"] == "partial" and done["images"][0]["status"] == "ok"


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"aspect": "2:3"}, "aspect"),
        ({"format": "gif"}, "format"),
        ({"garments": "top,socks"}, "garments"),
        ({"swatch_size": "huge"}, "swatch_size"),
        ({"palette_size": "0"}, "palette_size"),
        ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ],
)
def test_bad_options_are_422_naming_the_field(gateway, fields, words):
    with client(gateway) as http:
        response = post_job(http, {PACKSHOT: BOTTLE.read_bytes()}, **fields)
    assert response.status_code == 422 and words in response.json()["detail"], response.text


def test_a_post_without_files_is_422(gateway):
    with client(gateway) as http:
        response = http.post("/v1/jobs", data={"aspect": "1:1"})
    assert response.status_code == 422


# --- health, metrics, docs -------------------------------------------------------------------------


def test_health_readiness_metrics_and_docs(api_job, gateway):
    with client(gateway, None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/readyz").json() == {"status": "ready"}
        metrics = http.get("/metrics").text
        assert "/openapi.json" in http.get("/docs").text
        spec = http.get("/openapi.json").json()
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/manifest", "/v1/jobs/{job_id}/archive"} <= set(
        spec["paths"]
    )
    # The upload form, field by field, and both ways to send a key (the Authorize button).
    form = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {
        "files",
        "garments",
        "aspect",
        "background",
        "format",
        "swatch_size",
        "palette_size",
        "padding",
        "webhook_url",
    } <= form_fields(spec, form)
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line and not line.startswith("#")
    }
    assert values["catalog_jobs_created_total"] >= 1
    assert values['catalog_jobs_finished_total{status="partial"}'] >= 1
    assert "catalog_jobs_in_progress" in values
    for queue in ("detect", "pose", "segment", "color"):
        assert f'catalog_queue_depth{{queue="{queue}"}}' in values
    for stage in ("detect", "segment", "color"):  # every photo passes these
        assert values[f'catalog_stage_duration_seconds_count{{stage="{stage}"}}'] >= 1
    assert values['catalog_http_requests_total{method="POST",route="/v1/jobs",status="202"}'] >= 1


def form_fields(spec: dict, schema: dict) -> set[str]:
    """The property names of an OpenAPI schema, through $ref and allOf."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {})).union(*(form_fields(spec, s) for s in schema.get("allOf", [])))


def test_log_lines_are_json_and_name_the_job(cluster, tmp_path, coffee):
    """CATALOG_LOG_FORMAT=json: every line of the gateway is a JSON object, and the lines of
    a request about a job, uvicorn's access line included, carry its id (for POST /v1/jobs:
    the job it made)."""
    with running_gateway({**cluster.env, "CATALOG_LOG_FORMAT": "json"}, tmp_path) as url:
        with httpx.Client(base_url=url, headers={"X-API-Key": API_KEYS[0]}, timeout=60) as http:
            job_id = post_job(http, {"cup.png": encode(coffee[:150, :150])}).json()["id"]
            assert http.get(f"/v1/jobs/{job_id}").status_code == 200
            http.delete(f"/v1/jobs/{job_id}")
    text = "".join(path.read_text() for path in tmp_path.glob("gateway-*.log"))
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # fails on a line not JSON
    access = [line["message"] for line in lines if line["job"] == job_id and line["logger"] == "uvicorn.access"]
    assert any('"POST /v1/jobs HTTP' in m for m in access), text
    assert any(f'"GET /v1/jobs/{job_id} HTTP' in m for m in access), text


def test_readiness_fails_and_posts_are_503_when_redis_is_unreachable(cluster, tmp_path):
    from cluster import free_port

    port = free_port()
    env = {**cluster.env, "CATALOG_REDIS_URL": f"redis://127.0.0.1:{port}/0"}  # nothing listens there
    with running_gateway(env, tmp_path, wait_for="/healthz") as url:
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and "redis" in ready.json()
        key = {"X-API-Key": cluster.env["CATALOG_API_KEYS"].split(",")[0]}
        posted = httpx.post(f"{url}/v1/jobs", files=[("files", (PACKSHOT, BOTTLE.read_bytes()))], headers=key)
        assert posted.status_code == 503 and "Redis" in posted.json()["detail"]
        assert str(port) not in posted.text  # the store's address is the operator's, not the caller's
        assert posted.headers["retry-after"]


def test_owner_is_a_hash_of_the_key_never_the_key(gateway, api_job):
    raw = gateway.jobs.redis.hgetall(f"{gateway.jobs.ns}:job:{api_job.id}")
    assert raw["owner"] == owner_of(api_job.api_key) and api_job.api_key not in json.dumps(raw)

"""The gateway's hardening, over HTTP against the real gateway and workers (conftest `gateway`):

- /metrics stays bounded whatever clients send (labels from fixed sets) and takes a key of
  its own (CATALOG_METRICS_KEY), never a shop's API key;
- links never point to a Host the client made up (CATALOG_PUBLIC_URL, CATALOG_TRUSTED_HOSTS);
- every response carries the security headers, a job's catalog files a CSP that forbids scripts;
- a bounded schemathesis run on the OpenAPI document: no server error, no schema violation.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cluster import running_gateway
from conftest import API_KEYS, BOTTLE
from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
STATIC = PROJECT / "services" / "gateway" / "static"


def small_photo(side: int = 160) -> bytes:
    """The packshot fixture, shrunk: a real photo that costs the workers little."""
    image = Image.open(BOTTLE).convert("RGB")
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def keyed(url: str, key: str | None = API_KEYS[0], **headers: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={**({"X-API-Key": key} if key else {}), **headers}, timeout=60)


def wait_finished(http: httpx.Client, job_id: str, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    while (body := http.get(f"/v1/jobs/{job_id}").json())["finished"] is None:
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    return body


@pytest.fixture(scope="module")
def small_job(gateway) -> dict:
    """One small packshot through the real workers, finished: its catalog is served."""
    with keyed(gateway.url) as http:
        response = http.post("/v1/jobs", files=[("files", ("bottle.jpg", small_photo()))])
        assert response.status_code == 202, response.text
        return wait_finished(http, response.json()["id"])


def metric_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def labels_of(line: str) -> dict[str, str]:
    inside = line[line.index("{") + 1 : line.rindex("}")] if "{" in line else ""
    return dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', inside))


# --- 1. /metrics: bounded labels, and its own key ------------------------------------------------------

FIXED_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


def series_of(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in metric_lines(text)}


def test_metrics_stay_bounded_whatever_methods_and_paths_clients_send(gateway):
    """Made-up methods and paths, each once: before the fix each became a label value (3,000
    such requests added 60,000 lines, 44 MB). Now a second batch of new ones adds no line."""

    def batch(http: httpx.Client, first: int) -> None:
        for n in range(first, first + 200):
            method = f"X{n}MADEUP" if n % 4 else f"get{n}"  # made-up, and a real one in the wrong case
            path = f"/nothing-here-{n}" if n % 2 else "/v1/jobs"  # unmatched, and a route without that method
            response = http.request(method, path)
            assert response.status_code in (404, 405), (method, path, response.status_code)

    with httpx.Client(base_url=gateway.url, timeout=30) as http:
        before = series_of(http.get("/metrics").text)
        batch(http, 0)
        middle = http.get("/metrics").text
        batch(http, 1000)
        after = http.get("/metrics").text
    assert set(series_of(after)) == set(series_of(middle)), set(series_of(after)) ^ set(series_of(middle))
    assert len(after) - len(middle) < 200  # only the numbers changed
    assert "MADEUP" not in after and "nothing-here" not in after and 'method="get' not in after
    others = 0.0
    for name, value in series_of(after).items():
        if name.startswith("catalog_http_"):
            labels = labels_of(name)
            assert labels["method"] in FIXED_METHODS, name
            assert labels["route"] == "unmatched" or labels["route"].startswith("/"), name
            if "status" in labels:
                assert re.fullmatch(r"[1-5]\d\d|[1-5]xx|other", labels["status"]), name
            if name.startswith("catalog_http_requests_total{") and labels["method"] == "other":
                others += value - before.get(name, 0.0)
    assert others == 400


def test_metrics_are_open_by_default_and_a_shop_key_is_not_needed(gateway):
    """Keys on, CATALOG_METRICS_KEY unset: Prometheus scrapes without a key, as before."""
    response = httpx.get(f"{gateway.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert "catalog_http_requests_total" in response.text


def test_metrics_key_guards_metrics_and_api_keys_do_not_open_it(cluster, tmp_path):
    env = {**cluster.env, "CATALOG_METRICS_KEY": "scrape-secret"}
    with running_gateway(env, tmp_path) as url:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"X-API-Key": API_KEYS[0]},
            {"Authorization": f"Bearer {API_KEYS[1]}"},
            {"Authorization": "Basic c2NyYXBlLXNlY3JldA=="},
        ):
            refused = httpx.get(f"{url}/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert "metrics key" in refused.json()["detail"] and refused.headers["www-authenticate"] == "Bearer"
            assert "catalog_" not in refused.text
        for headers in ({"Authorization": "Bearer scrape-secret"}, {"X-API-Key": "scrape-secret"}):
            allowed = httpx.get(f"{url}/metrics", headers=headers)
            assert allowed.status_code == 200 and "catalog_jobs_created_total" in allowed.text, headers
        assert httpx.get(f"{url}/healthz").status_code == 200  # health stays open
        spec = httpx.get(f"{url}/openapi.json").json()
    assert {"200", "401", "503"} <= set(spec["paths"]["/metrics"]["get"]["responses"])


# --- 2. links never name the client's Host --------------------------------------------------------------

EVIL = "evil.example"


def all_links(body: dict) -> list[str]:
    """Every URL in a job, a job list or a manifest answer."""
    found = []

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and "://" in value:
            found.append(value)

    walk(body)
    return found


def test_with_a_public_url_links_use_it_whatever_host_the_client_sends(gateway, small_job):
    """The session's gateway has CATALOG_PUBLIC_URL: Host, X-Forwarded-Host and Forwarded
    are never where links point."""
    spoofed = {"Host": EVIL, "X-Forwarded-Host": EVIL, "Forwarded": f"host={EVIL}"}
    job_id = small_job["id"]
    with keyed(gateway.url, **spoofed) as http:
        posted = http.post("/v1/jobs", files=[("files", ("cup.jpg", small_photo(64)))])
        assert posted.status_code == 202, posted.text
        answers = [
            posted,
            http.get(f"/v1/jobs/{job_id}"),
            http.get("/v1/jobs"),
            http.get(f"/v1/jobs/{job_id}/manifest"),
        ]
        http.delete(f"/v1/jobs/{posted.json()['id']}")
    for answer in answers:
        assert answer.status_code == 200 or answer is posted, answer.text
        assert EVIL not in answer.text, answer.text
        links = all_links(answer.json())
        assert links and all(link.startswith(gateway.url + "/") for link in links), links
    assert posted.json()["links"]["page"] == f"{gateway.url}/jobs/{posted.json()['id']}"


def raw_get(url: str, path: str, host: str | None, key: str = API_KEYS[0]) -> tuple[int, bytes]:
    """A request with exactly the Host line given (None: no Host line, as HTTP/1.0 allows)."""
    parts = urlsplit(url)
    lines = [f"GET {path} HTTP/1.0", f"X-API-Key: {key}"] + ([f"Host: {host}"] if host is not None else [])
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def test_without_a_public_url_only_trusted_hosts_are_served(cluster, tmp_path):
    """No CATALOG_PUBLIC_URL, no CATALOG_TRUSTED_HOSTS: links come from the Host, so only the
    loopback names are answered (as `make run` and the tests reach the gateway); any other
    Host is a 400 naming it, and the health and metrics endpoints answer any Host."""
    env = {k: v for k, v in cluster.env.items() if k != "CATALOG_PUBLIC_URL"}
    with running_gateway(env, tmp_path) as url:
        port = urlsplit(url).port
        for host in (
            EVIL,
            f"{EVIL}:{port}",
            f"localhost.{EVIL}",
            f"127.0.0.1.{EVIL}",
            "10.0.0.7",
            "[::2]",
            f"localhost@{EVIL}",
            "",
            "exa mple",
        ):
            with keyed(url, Host=host) as http:
                refused = http.get("/v1/jobs") if host else None
            if refused is not None:
                assert refused.status_code == 400, host
                assert "untrusted Host" in refused.json()["detail"], host
                assert "CATALOG_TRUSTED_HOSTS" in refused.json()["detail"]
        status, body = raw_get(url, "/v1/jobs", None)  # no Host at all
        assert status == 400 and b"untrusted Host" in body
        status, body = raw_get(url, "/v1/jobs", "")
        assert status == 400
        for path in ("/healthz", "/readyz", "/metrics"):
            assert httpx.get(f"{url}{path}", headers={"Host": EVIL}).status_code == 200, path
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"LOCALHOST:{port}"):
            with keyed(url, Host=host) as http:
                posted = http.post("/v1/jobs", files=[("files", ("cup.jpg", small_photo(64)))])
                http.delete(f"/v1/jobs/{posted.json()['id']}")
            assert posted.status_code == 202, posted.text
            assert posted.json()["links"]["self"].lower() == f"http://{host}/v1/jobs/{posted.json()['id']}".lower()
        spec = httpx.get(f"{url}/openapi.json").json()  # the docs are served too
        assert spec["info"]["title"] == "Catalog"


def test_trusted_hosts_with_a_public_url(cluster, tmp_path):
    """CATALOG_TRUSTED_HOSTS set: only those hosts (a wildcard matches subdomains) and the
    public URL's own; links always on CATALOG_PUBLIC_URL (its path prefix too)."""
    public = "https://catalog.test/shop-api"
    env = {**cluster.env, "CATALOG_PUBLIC_URL": public, "CATALOG_TRUSTED_HOSTS": "gateway.internal, *.shop.test"}
    with running_gateway(env, tmp_path) as url:
        for host in (EVIL, "shop.test", "evilshop.test", "gateway.internal.evil.example"):
            with keyed(url, Host=host) as http:
                assert http.get("/v1/jobs").status_code == 400, host
        assert httpx.get(f"{url}/readyz", headers={"Host": EVIL}).status_code == 200
        for host in ("catalog.test", "gateway.internal:8000", "a.shop.test", "B.SHOP.TEST"):
            with keyed(url, Host=host) as http:
                posted = http.post("/v1/jobs", files=[("files", ("cup.jpg", small_photo(64)))])
                assert posted.status_code == 202, (host, posted.text)
                job_id = posted.json()["id"]
                assert posted.json()["links"] == {
                    "self": f"{public}/v1/jobs/{job_id}",
                    "manifest": f"{public}/v1/jobs/{job_id}/manifest",
                    "archive": f"{public}/v1/jobs/{job_id}/archive",
                    "page": f"{public}/jobs/{job_id}",
                }
                listed = http.get("/v1/jobs").json()["jobs"]
                assert all(link.startswith(public + "/") for link in all_links({"jobs": listed}))
                http.delete(f"/v1/jobs/{job_id}")


# --- 3. security headers ---------------------------------------------------------------------------

STRICT = {"x-content-type-options": "nosniff", "x-frame-options": "DENY", "referrer-policy": "no-referrer"}


def directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def check_headers(response: httpx.Response) -> dict[str, list[str]]:
    for name, value in STRICT.items():
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)
    csp = response.headers.get("content-security-policy")
    assert csp, response.request.url
    policy = directives(csp)
    assert policy["frame-ancestors"] == ["'none'"], csp
    assert "'unsafe-inline'" not in policy.get("script-src", []) and "'unsafe-eval'" not in csp, csp
    return policy


def test_every_kind_of_response_has_the_security_headers(gateway, small_job):
    job_id = small_job["id"]
    with keyed(gateway.url) as http:
        answers = {
            "page": http.get("/"),
            "job page": http.get(f"/jobs/{job_id}"),
            "script": http.get("/static/app.js"),
            "style": http.get("/static/style.css"),
            "job": http.get(f"/v1/jobs/{job_id}"),
            "list": http.get("/v1/jobs"),
            "manifest": http.get(f"/v1/jobs/{job_id}/manifest"),
            "archive": http.get(f"/v1/jobs/{job_id}/archive"),
            "openapi": http.get("/openapi.json"),
            "metrics": http.get("/metrics"),
            "health": http.get("/healthz"),
            "ready": http.get("/readyz"),
            "unmatched": http.get("/nothing"),
            "405": http.put("/v1/jobs"),
            "404": http.get(f"/v1/jobs/{'0' * 32}"),
            "400": http.get(f"/v1/jobs/{job_id}/files/..%2Fx"),
            "422": http.get("/v1/jobs?limit=lots"),
            "401": httpx.get(f"{gateway.url}/v1/jobs"),
            "docs": http.get("/docs"),
            "redoc": http.get("/redoc"),
        }
    for name, response in answers.items():
        assert response.status_code < 500, (name, response.text)
        policy = check_headers(response)
        if name in ("page", "job page", "script", "style"):
            # The page: its own files only, photos from blob: URLs; no inline code needed.
            assert policy["default-src"] == ["'self'"] and "script-src" not in policy, policy
            assert set(policy["img-src"]) == {"'self'", "blob:", "data:"} and policy["object-src"] == ["'none'"]
        elif name in ("docs", "redoc"):
            assert "'unsafe-inline'" not in policy["script-src"]
        else:
            assert policy["default-src"] == ["'none'"], (name, policy)


def test_docs_allow_their_own_inline_script_by_hash(gateway):
    page = httpx.get(f"{gateway.url}/docs")
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    assert scripts and "/openapi.json" in page.text
    allowed = directives(page.headers["content-security-policy"])["script-src"]
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in allowed


def test_catalog_files_are_sandboxed_and_may_run_no_script(gateway, small_job):
    """index.html shows the file names users chose: served with a CSP that forbids every
    script (default-src 'none', no script-src) in a sandbox, and so is every other file."""
    job_id = small_job["id"]
    with keyed(gateway.url) as http:
        manifest = http.get(f"/v1/jobs/{job_id}/manifest").json()
        image = manifest["images"][0]["preview"]
        files = {"index.html": "text/html", "manifest.json": "application/json", urlsplit(image).path: "image/"}
        spec = http.get("/openapi.json").json()
        declared = set(spec["paths"]["/v1/jobs/{job_id}/files/{path}"]["get"]["responses"]["200"]["content"])
        for path, kind in files.items():
            response = http.get(path if path.startswith("/") else f"/v1/jobs/{job_id}/files/{path}")
            assert response.status_code == 200 and response.headers["content-type"].startswith(kind), path
            policy = check_headers(response)
            assert "sandbox" in policy and "allow-scripts" not in policy["sandbox"], policy
            assert policy["default-src"] == ["'none'"] and "script-src" not in policy, policy
            media = response.headers["content-type"].split(";")[0]
            assert media in declared or f"{media.split('/')[0]}/*" in declared or "*/*" in declared, (media, declared)


def test_the_page_needs_nothing_its_csp_forbids():
    """The page's CSP allows no inline code: the page must keep having none (test_web.py
    checks it in a browser)."""
    html = (STATIC / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
    assert "<style" not in html and not re.search(r"\sstyle=", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for path in STATIC.glob("*.js"):
        script = path.read_text()
        assert "eval(" not in script and "new Function" not in script and ".innerHTML" not in script, path.name


# --- 5. schemathesis ------------------------------------------------------------------------------------

CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
    "response_schema_conformance"
)


def server_figures(url: str) -> tuple[float, float, float]:
    """Requests this gateway has answered, how many with a 5xx, and how many 200s of the
    routes of one job, from its own /metrics."""
    total = errors = on_a_job = 0.0
    for line in metric_lines(httpx.get(f"{url}/metrics").text):
        if line.startswith("catalog_http_requests_total{"):
            value, labels = float(line.rsplit(" ", 1)[1]), labels_of(line)
            total += value
            errors += value if labels["status"].startswith("5") else 0
            on_a_job += value if labels["status"] == "200" and "{job_id}" in labels["route"] else 0
    return total, errors, on_a_job


def schemathesis(url: str, report: Path, *args: str, config: str | None = None, timeout: float = 150) -> dict:
    command = [str(Path(sys.executable).with_name("schemathesis"))]
    if config is not None:
        (report / "schemathesis.toml").write_text(config)
        command += ["--config-file", str(report / "schemathesis.toml")]
    command += [
        "run",
        f"{url}/openapi.json",
        "-H",
        f"X-API-Key: {API_KEYS[0]}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--seed",
        "20261201",
        "--no-color",
        "--generation-database",
        "none",
        "--report",
        "json",
        "--report-dir",
        str(report),
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=report)
    reports = sorted(report.glob("json-*.json"))
    assert reports, done.stdout[-4000:] + done.stderr[-4000:]
    result = json.loads(reports[-1].read_text())
    reports[-1].unlink()
    result["output"] = done.stdout
    return result


@pytest.mark.skipif(
    shutil.which("schemathesis", path=str(Path(sys.executable).parent)) is None,
    reason="schemathesis is not installed (pip install -e '.[test]')",
)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(gateway, small_job, tmp_path):
    """Bounded (examples per operation, seconds per run): every operation with generated
    input, then the job routes on a real finished job (no DELETE, which would end it)."""
    requests_before, errors_before, found_before = server_figures(gateway.url)
    started = time.monotonic()
    everything = schemathesis(gateway.url, tmp_path, "--max-examples", "25", "--max-time", "40")
    on_a_job = schemathesis(
        gateway.url,
        tmp_path,
        "--max-examples",
        "15",
        "--max-time",
        "20",
        "--include-path-regex",
        r"\{job_id\}",
        "--exclude-method",
        "DELETE",
        config=f'[parameters]\n"path.job_id" = "{small_job["id"]}"\n',
    )
    requests_after, errors_after, found_after = server_figures(gateway.url)
    figures = {
        "cases": everything["test_cases"]["generated"] + on_a_job["test_cases"]["generated"],
        "requests": int(requests_after - requests_before),
        "server errors": int(errors_after - errors_before),
        "200s on the job": int(found_after - found_before),
        "failures": everything["failures"] + on_a_job["failures"],
        "seconds": round(time.monotonic() - started),
    }
    print(f"schemathesis: {figures}")
    for run in (everything, on_a_job):
        assert run["operations"]["errored"] == 0 and not run["errors"], run["output"][-6000:]
        assert not run["failures"], run["output"][-8000:]
    assert figures["server errors"] == 0
    assert everything["operations"]["tested"] >= 10 and on_a_job["operations"]["tested"] >= 4
    assert figures["requests"] >= 300 and figures["200s on the job"] >= 3  # the job's answers were checked too

"""The gateway's connections bounded in time and number (services.gateway.connections),
against the real gateway as every launch path starts it (services.gateway.serve, its own
process) on a redis-server of its own, with small limits set through the settings. Raw
sockets send what no client library would: half a head, a head one byte at a time, a body
shorter than announced, a chunk that never comes; each is answered 408 (or closed) within
its deadline, and the gateway goes on answering others."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from cluster import running_gateway, running_redis

HEADER_S, BODY_S, DEADLINE_S, PER_IP = 1.0, 1.0, 3.0, 4
SLACK_S = 1.5  # a timer's lateness on a busy two-core machine


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("connections")
    with running_redis(base / "redis") as redis_url:
        env = {
            **os.environ,
            "CATALOG_REDIS_URL": redis_url,
            "CATALOG_STORAGE_URL": (base / "blobs").as_uri(),
            "CATALOG_HEADER_TIMEOUT_S": str(HEADER_S),
            "CATALOG_BODY_TIMEOUT_S": str(BODY_S),
            "CATALOG_BODY_DEADLINE_S": str(DEADLINE_S),
            "CATALOG_MAX_CONNECTIONS_PER_IP": str(PER_IP),
            "CATALOG_SWEEP_INTERVAL_S": "0",
        }
        with running_gateway(env, base / "logs") as url:
            yield url


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=30)


def answer(sock: socket.socket) -> tuple[bytes, float]:
    """What the gateway sends until it closes the connection, and how long that took."""
    start, data = time.monotonic(), b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - start


def head(path: str = "/v1/jobs", *lines: str) -> bytes:
    return "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *lines]).encode() + b"\r\n\r\n"


def assert_408_within(data: bytes, took: float, limit: float, words: str) -> None:
    assert took < limit + SLACK_S, f"held {took:.1f} s, the limit is {limit} s"
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert words.encode() in data, data


def test_half_a_head_is_answered_408_within_the_header_timeout(gateway):
    with connect(gateway) as s:
        s.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        assert_408_within(*answer(s), HEADER_S, "CATALOG_HEADER_TIMEOUT_S")


def test_a_head_sent_one_byte_at_a_time_does_not_reset_the_timeout(gateway):
    request = head("/healthz").replace(b"POST", b"GET")
    with connect(gateway) as s:
        start = time.monotonic()
        try:
            for byte in request[:-2]:  # never the final line
                s.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass  # closed while sending: what is wanted
        data, _ = answer(s)
    assert_408_within(data, time.monotonic() - start, HEADER_S, "CATALOG_HEADER_TIMEOUT_S")


def test_a_body_shorter_than_announced_is_answered_408(gateway):
    with connect(gateway) as s:
        s.sendall(head("/v1/jobs", "Content-Type: multipart/form-data; boundary=XyZ", "Content-Length: 100"))
        s.sendall(b"--XyZ\r\nabc")  # 10 of the 100 bytes, then silence
        assert_408_within(*answer(s), BODY_S, "CATALOG_BODY_TIMEOUT_S")


def test_a_chunk_that_never_comes_is_answered_408(gateway):
    with connect(gateway) as s:
        s.sendall(head("/v1/jobs", "Content-Type: multipart/form-data; boundary=XyZ", "Transfer-Encoding: chunked"))
        s.sendall(b"ffffffffffffffff\r\n--XyZ\r\n")
        assert_408_within(*answer(s), BODY_S, "CATALOG_BODY_TIMEOUT_S")


def test_a_body_that_trickles_is_cut_off_at_the_deadline(gateway):
    with connect(gateway) as s:
        s.sendall(head("/v1/jobs", "Content-Type: multipart/form-data; boundary=XyZ", "Content-Length: 100000"))
        s.sendall(b'--XyZ\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n')
        start = time.monotonic()
        try:
            while time.monotonic() - start < DEADLINE_S + 5:  # a byte each 0.3 s: never silent for BODY_S
                s.sendall(b"x")
                time.sleep(0.3)
        except OSError:
            pass
        data, _ = answer(s)
    assert_408_within(data, time.monotonic() - start, DEADLINE_S, "CATALOG_BODY_DEADLINE_S")


def test_one_address_holds_at_most_its_share_of_connections(gateway):
    held = [connect(gateway) for _ in range(PER_IP)]
    try:
        for s in held:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")  # half a head: each holds its connection
        time.sleep(0.2)
        with connect(gateway) as s:
            data, took = answer(s)
        assert data.startswith(b"HTTP/1.1 429") and b"CATALOG_MAX_CONNECTIONS_PER_IP" in data, data
        assert took < 1
    finally:
        for s in held:
            s.close()
    time.sleep(0.3)
    assert httpx.get(f"{gateway}/healthz", timeout=5).status_code == 200  # freed as they close


def test_the_gateway_started_whole(gateway, tmp_path_factory):
    """The app's startup ran (the sweeper starts there): uvicorn goes on without it, saying
    only that the lifespan 'appears unsupported', when a middleware fails on its scope."""
    (log,) = (tmp_path_factory.getbasetemp() / "connections0" / "logs").glob("gateway-*.log")
    text = log.read_text()
    assert "Application startup complete" in text and "unsupported" not in text, text


def test_kept_alive_requests_and_the_gateway_go_on(gateway):
    with httpx.Client(base_url=gateway, timeout=10) as http:
        for _ in range(3):  # one connection, several requests, the timers re-armed each time
            assert http.get("/healthz").status_code == 200
            time.sleep(HEADER_S / 2)
        assert http.get("/readyz").json() == {"status": "ready"}


def test_a_head_over_the_size_limit_is_400(gateway):
    with connect(gateway) as s:
        s.sendall(head("/healthz", "X-Padding: " + "x" * 20_000).replace(b"POST", b"GET"))  # over 16 KB
        data, took = answer(s)
    assert data.startswith(b"HTTP/1.1 431") and b"CATALOG_MAX_HEADER_KB" in data and took < 2, data[:200]
    with connect(gateway) as s:  # the same, arriving in pieces: h11's own limit
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
        for _ in range(20):
            s.sendall(b"x" * 1000)
        data, took = answer(s)
    assert data.startswith(b"HTTP/1.1 400") and took < 2, data[:200]

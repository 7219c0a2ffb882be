"""Slow clients for bench/faults.py: connections that send half a request head, or a body
shorter than announced, and webhook receivers that take 9.5 s to answer. Each connection
fault runs in its own thread and records how long the gateway let it hold its connection
(what bounds it: CATALOG_HEADER_TIMEOUT_S, CATALOG_BODY_TIMEOUT_S, or the cap per address).

Connections come from other loopback addresses (127.0.0.2, ...), as another client's would:
the cap per address applies to them, not to the clients submitting jobs.
"""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

HALF_HEAD = b"POST /v1/jobs HTTP/1.1\r\nHost: catalog\r\nContent-Type: multipart/form-data; bou"
SHORT_BODY = (
    b"POST /v1/jobs HTTP/1.1\r\nHost: catalog\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
    b"Content-Length: 100\r\n\r\n--XyZ\r\nabc"  # 10 of the 100 bytes
)


class SlowConnections:
    """Every slow connection opened, and how long each was held open by the gateway."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.held: dict[str, list[float]] = {"half-head": [], "short-body": []}
        self.answers: dict[bytes, int] = {}  # status line -> count
        self.lock = threading.Lock()

    def open(self, kind: str, count: int, source: str) -> None:
        """`count` connections from `source`, each sending what `kind` sends, at once."""
        data = HALF_HEAD if kind == "half-head" else SHORT_BODY
        for _ in range(count):
            threading.Thread(target=self._one, args=(kind, data, source), daemon=True).start()

    def _one(self, kind: str, data: bytes, source: str) -> None:
        start = time.monotonic()
        answer = b""
        try:
            with socket.create_connection(self.address, timeout=120, source_address=(source, 0)) as s:
                s.sendall(data)
                while chunk := s.recv(65536):
                    answer += chunk
        except OSError:
            pass
        held = time.monotonic() - start
        with self.lock:
            self.held[kind].append(held)
            status = answer.split(b"\r\n", 1)[0] or b"(closed, no answer)"
            self.answers[status] = self.answers.get(status, 0) + 1

    def report(self) -> dict:
        with self.lock:
            return {
                "connections": {kind: len(times) for kind, times in self.held.items()},
                "held_max_s": {kind: round(max(times), 1) for kind, times in self.held.items() if times},
                "answers": {status.decode(errors="replace"): n for status, n in self.answers.items()},
            }

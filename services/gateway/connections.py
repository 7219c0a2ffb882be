"""The gateway's connections, bounded in time and number (uvicorn's h11 protocol, extended).

uvicorn itself bounds only the wait between requests on a kept-alive connection; a client
that sends half a request head, or a body shorter than it announced (or a chunk that never
comes), would hold its connection, and the task reading it, forever. Here, per connection:

- the request's head must arrive whole within CATALOG_HEADER_TIMEOUT_S of its first byte
  (of the connection, for its first request);
- while its body is read, the client may fall silent for at most CATALOG_BODY_TIMEOUT_S,
  and the whole body must arrive within CATALOG_BODY_DEADLINE_S of the head's end;
- one client address holds at most CATALOG_MAX_CONNECTIONS_PER_IP connections at once in
  this process (0: no cap; behind a proxy every client has the proxy's address, so the
  proxy caps them instead: k8s/base/ingress.yaml).

- a request's head is at most CATALOG_MAX_HEADER_KB (431; h11 itself answers 400 to one
  still incomplete past it).

Past a limit the client gets a 408 (429 for the cap) saying which, and the connection is
closed; a request whose answer has started is cut off.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from shared.infra.settings import settings

log = logging.getLogger("uvicorn.error")

# Connections per client address, across this process's connections (one event loop).
_open: collections.Counter[str] = collections.Counter()


class BoundedH11Protocol(H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        s = settings()
        self.header_timeout_s, self.body_timeout_s = s.header_timeout_s, s.body_timeout_s
        self.body_deadline_s, self.per_ip = s.body_deadline_s, s.max_connections_per_ip
        self.max_head = s.max_header_kb * 1024
        self.address: str | None = None  # counted in _open
        self.timer: asyncio.TimerHandle | None = None
        self.waiting: str | None = None  # "head" or "body": what the timer waits for
        self.body_started = 0.0

    # --- the connection ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        address = self.client[0] if self.client else ""
        if self.per_ip and _open[address] >= self.per_ip:
            self.refuse(
                429,
                f"too many connections from your address: at most {self.per_ip} at once "
                "(CATALOG_MAX_CONNECTIONS_PER_IP)",
            )
            return
        _open[address] += 1
        self.address = address
        self.wait_for("head", self.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_waiting()
        if self.address is not None:
            _open[self.address] -= 1
            if _open[self.address] <= 0:
                del _open[self.address]
            self.address = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        reading_head = self.conn.their_state is h11.IDLE
        if self.waiting is None and reading_head:
            self.wait_for("head", self.header_timeout_s)  # a kept-alive connection's next request
        super().data_received(data)
        if reading_head and self.conn.their_state is not h11.IDLE and self.head_too_large():
            return
        self.follow()

    def head_too_large(self) -> bool:
        """h11 refuses a head over the limit only while it is incomplete: one that came
        whole in a single read is measured here, before its request's task has run."""
        if self.cycle is None or self.cycle.response_started:
            return False
        size = len(self.scope["raw_path"]) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size <= self.max_head:
            return False
        self.refuse(431, f"the request's head is over {self.max_head // 1024} KB (CATALOG_MAX_HEADER_KB)")
        return True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.follow()

    # --- what is awaited -----------------------------------------------------------------

    def follow(self) -> None:
        """Set the timer by where the request stands: head, body, or nothing awaited."""
        if self.transport.is_closing():
            self.stop_waiting()
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            if self.waiting != "body":
                self.body_started = time.monotonic()
            left = self.body_deadline_s - (time.monotonic() - self.body_started)
            self.wait_for("body", min(self.body_timeout_s, max(left, 0.0)), restart=True)
        elif state is h11.IDLE:
            if self.waiting == "body" or (self.waiting is None and self.conn.our_state is not h11.IDLE):
                self.stop_waiting()  # between requests: uvicorn's keep-alive timeout applies
        else:
            self.stop_waiting()

    def wait_for(self, what: str, seconds: float, *, restart: bool = False) -> None:
        if self.waiting == what and not restart:
            return
        self.stop_waiting()
        self.waiting = what
        self.timer = self.loop.call_later(seconds, self.timed_out)

    def stop_waiting(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.waiting = None, None

    def timed_out(self) -> None:
        what, self.timer, self.waiting = self.waiting, None, None
        if self.transport.is_closing():
            return
        if what == "head":
            detail = f"the request's head did not arrive within {self.header_timeout_s:g} s (CATALOG_HEADER_TIMEOUT_S)"
        elif time.monotonic() - self.body_started >= self.body_deadline_s:
            detail = f"the request's body did not arrive within {self.body_deadline_s:g} s (CATALOG_BODY_DEADLINE_S)"
        else:
            detail = (
                f"the request's body stopped arriving: nothing for {self.body_timeout_s:g} s (CATALOG_BODY_TIMEOUT_S)"
            )
        self.refuse(408, detail)

    # --- the answer ---------------------------------------------------------------------

    def refuse(self, status: int, detail: str) -> None:
        """Answer `status` with the detail when no answer has started, then close; the
        request's task, if any, sees the client gone. Written as bytes, not through h11,
        which will not answer a request whose head it has not read."""
        log.warning("%s: %d, %s", self.client[0] if self.client else "a client", status, detail)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # its receive() says http.disconnect, its send() is dropped
            cycle.message_event.set()
        if cycle is None or not cycle.response_started:
            body = json.dumps({"detail": detail}).encode()
            self.transport.write(
                f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body
            )
        self.transport.close()


REASONS = {408: "Request Timeout", 429: "Too Many Requests", 431: "Request Header Fields Too Large"}

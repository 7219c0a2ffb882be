"""Signs of life for the jobs this process is storing: one thread per process calls every
registered beat every few seconds (a thread per job would cost each POST its start and
join). A request that dies stops beating, and what it held lapses (shared.engine.jobs.create)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from shared.infra.settings import settings


class _Keeper:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.live: dict[int, Callable[[], None]] = {}
        self.tokens = itertools.count()
        self.pid = 0  # the process the thread runs in: a forked child starts its own

    def add(self, beat: Callable[[], None]) -> int:
        with self.lock:
            token = next(self.tokens)
            self.live[token] = beat
            if self.pid != os.getpid():
                self.pid = os.getpid()
                threading.Thread(target=self.run, name="upload-keeper", daemon=True).start()
        return token

    def discard(self, token: int) -> None:
        with self.lock:
            self.live.pop(token, None)

    def run(self) -> None:
        while True:
            time.sleep(max(0.1, settings().idempotency_pending_s / 6))
            with self.lock:
                live = list(self.live.values())
            for beat in live:
                try:
                    beat()
                except redis.RedisError:
                    pass  # the commit finds out


_keeper = _Keeper()


@contextmanager
def kept_alive(beat: Callable[[], None]) -> Iterator[None]:
    """`beat` is called every CATALOG_IDEMPOTENCY_PENDING_S / 6 while the block runs."""
    token = _keeper.add(beat)
    try:
        yield
    finally:
        _keeper.discard(token)

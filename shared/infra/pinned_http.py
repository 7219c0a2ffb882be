"""An HTTP POST that connects to an address given in advance (the one a check approved,
shared.infra.public_address), while the request still names the URL's host: the Host
header and, over https, the TLS server name (SNI) and the certificate's check are the
host's, as with any call; only the lookup is skipped. No proxy, no redirect, and one
deadline for the whole call (connect, send, the answer's head and body), so a receiver
that trickles its answer cannot hold the caller past it.
"""

from __future__ import annotations

import asyncio
import typing

import httpcore
import httpx


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with every TCP connection made to one address; TLS is
    started on it by httpcore with the origin's host as server_hostname."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self.inner.connect_tcp(
            self.address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a pinned call connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request, response and error mapping), its connection pool
    made on PinnedBackend: httpx 0.28 takes no network backend of its own (encode/httpx#3180),
    so the pool it made is replaced with one that uses it, with the same TLS context."""

    def __init__(self, address: str) -> None:
        super().__init__(trust_env=False)
        ssl_context = httpx.create_ssl_context(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context, max_connections=1, network_backend=PinnedBackend(address)
        )


def post(url: str, address: str, *, content: bytes, headers: dict[str, str], deadline_s: float) -> httpx.Response:
    """POST `content` to `url`, connecting to `address`; the whole call within deadline_s
    (httpx.TimeoutException past it). Runs its own event loop: call it from a thread."""

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(
            transport=PinnedTransport(address), timeout=deadline_s, follow_redirects=False, trust_env=False
        ) as client:
            async with asyncio.timeout(deadline_s):
                response = await client.post(url, content=content, headers=headers)
                await response.aread()
                return response

    try:
        return asyncio.run(call())
    except TimeoutError:
        raise httpx.TimeoutException(f"no complete answer within {deadline_s:g} s") from None

"""Headers in and out: which Host a request may name, the address links are made from, and
the security headers on every response (docs/api.md, "Hosts and links" and "Security
headers").

Two pure ASGI middlewares (no BaseHTTPMiddleware: streamed files pass through untouched):

- TrustedHosts: a request's Host is never where links point unless it is trusted. With
  CATALOG_PUBLIC_URL set, the request's scope is given that address (Host and scheme), so
  anything built from the request (request.base_url, url_for) is the public address; without
  it, a Host outside CATALOG_TRUSTED_HOSTS (default: the loopback names) is refused with 400.
- SecurityHeaders: Content-Security-Policy (by what is served), X-Content-Type-Options,
  X-Frame-Options and Referrer-Policy on every response, errors included; it wraps the whole
  app, FastAPI's handler of unexpected errors too (see services.gateway.app.Gateway).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette._utils import parse_host_header
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.infra.settings import Settings, settings

# --- hosts ------------------------------------------------------------------------------

# The hosts `make run` and the tests reach the gateway at (Host as sent: IPv6 in brackets).
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Make no links, and are reached by pod IP (kubelet probes, Prometheus): any Host.
ANY_HOST_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


@dataclass(frozen=True)
class HostPolicy:
    public_url: str | None  # CATALOG_PUBLIC_URL when set, without a trailing slash
    trusted: tuple[str, ...] | None  # host patterns; None: any host

    @classmethod
    def of(cls, s: Settings) -> HostPolicy:
        public = s.public_url.strip().rstrip("/") if s.public_url_set else None
        if public is not None:
            parts = urlsplit(public)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise ValueError(f"CATALOG_PUBLIC_URL={s.public_url!r}: an http:// or https:// URL is needed")
        if s.trusted_hosts:
            own = (_host_of(public),) if public else ()
            trusted: tuple[str, ...] | None = None if "*" in s.trusted_hosts else (*s.trusted_hosts, *own)
        else:
            trusted = None if public else LOOPBACK_HOSTS
        for pattern in trusted or ():
            if "*" in pattern[1:] or (pattern.startswith("*") and not pattern.startswith("*.")):
                raise ValueError(f"CATALOG_TRUSTED_HOSTS: {pattern!r}: a wildcard is only allowed as '*.example.com'")
        return cls(public, trusted)

    def allows(self, host_header: str | None) -> bool:
        if self.trusted is None:
            return True
        parsed = parse_host_header(host_header)
        if parsed is None:
            return False
        host = parsed.host.lower()
        return any(host == p or (p.startswith("*.") and host.endswith(p[1:])) for p in self.trusted)


def _host_of(url: str) -> str:
    """The host of a URL as a Host header names it (IPv6 in brackets), lower case."""
    parsed = parse_host_header(urlsplit(url).netloc.rpartition("@")[2])
    return parsed.host.lower() if parsed else ""


@cache
def host_policy() -> HostPolicy:
    """This process's policy, from its settings (a bad CATALOG_PUBLIC_URL or
    CATALOG_TRUSTED_HOSTS stops the gateway at start, saying which)."""
    return HostPolicy.of(settings())


def public_base(request: Request) -> str:
    """The gateway's address for links in an answer: CATALOG_PUBLIC_URL when set, else the
    request's own (a Host that TrustedHosts let through). No trailing slash."""
    return host_policy().public_url or str(request.base_url).rstrip("/")


def public_url_for(request: Request, name: str, /, **params: str) -> str:
    """request.url_for on the public address (CATALOG_PUBLIC_URL's path prefix included)."""
    return public_base(request) + str(request.app.url_path_for(name, **params))


class TrustedHosts:
    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self.app, self.policy = app, policy
        if policy.public_url:
            parts = urlsplit(policy.public_url)
            self.scheme, self.netloc = parts.scheme, parts.netloc.rpartition("@")[2].encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ANY_HOST_PATHS:
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host")
        if not self.policy.allows(host):
            shown = (host or "")[:100]
            detail = (
                f"untrusted Host header {shown!r}: the gateway answers only for the hosts of "
                "CATALOG_TRUSTED_HOSTS (or set CATALOG_PUBLIC_URL)"
            )
            body = json.dumps({"detail": detail}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if self.policy.public_url:
            # Whatever the client sent, the app sees the public address: every URL built
            # from the request points there.
            headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
            scope["scheme"], scope["headers"] = self.scheme, [(b"host", self.netloc), *headers]
        await self.app(scope, receive, send)


# --- security headers -------------------------------------------------------------------

# The web page (static/): its own script and style files only, no inline code; photos are
# shown from blob: URLs (fetched with the key), the favicon is a data: URL.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# A job's catalog files, index.html above all (it shows file names users chose): never a
# script, and a sandbox (an origin of its own) whatever the file is. The gallery page has
# inline styles (colours) and images, and offers downloads.
FILES_CSP = (
    "sandbox allow-downloads; default-src 'none'; img-src 'self' data: blob:; media-src 'self'; "
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# JSON and everything else: nothing to load.
API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# The OpenAPI pages (/docs, /redoc) load Swagger UI / ReDoc from their CDN; their inline
# scripts are allowed by hash (docs_page).
DOCS_CSP = (
    "default-src 'none'; script-src 'self' https://cdn.jsdelivr.net{hashes}; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src https://fonts.gstatic.com; img-src 'self' data: https:; connect-src 'self'; worker-src blob:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
FILES_PATH = re.compile(r"^/v1/jobs/[^/]+/files/")
PAGE_PATH = re.compile(r"^/(?:$|jobs/|static/)")

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def csp_for(path: str) -> str:
    if FILES_PATH.match(path):
        return FILES_CSP
    if PAGE_PATH.match(path):
        return PAGE_CSP
    return API_CSP


class SecurityHeaders:
    """Adds the headers above to every response; a CSP the endpoint set itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = csp_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(raw=message["headers"])
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                headers.setdefault("content-security-policy", policy)
            await send(message)

        await self.app(scope, receive, send_with_headers)


INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_page(page: HTMLResponse) -> HTMLResponse:
    """An OpenAPI page with its CSP: the page's own inline scripts allowed by their hash."""
    body = bytes(page.body).decode()
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(body)
    )
    page.headers["content-security-policy"] = DOCS_CSP.format(hashes=hashes)
    return page

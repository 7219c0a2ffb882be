"""Where a webhook may go (shared.infra.public_address through shared.engine.webhooks) and
how it is called (shared.infra.pinned_http), without a cluster: every form of a non-public
address is refused, a name that does not resolve too, and the call connects to the address
that was checked while the request still names the URL's host; a receiver that trickles
its answer is cut off at the deadline."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from shared.engine import webhooks
from shared.infra import pinned_http
from shared.infra.settings import Settings

# Each reaches loopback, a private network, a link or the metadata service another way.
NOT_PUBLIC = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://0x7f.1/hook",  # 127.0.0.1 written in hex
    "http://2130706433/hook",  # and as one number
    "http://10.0.0.7/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",  # shared address space (carrier NAT)
    "http://224.0.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::]/hook",
    "http://[::127.0.0.1]/hook",  # IPv4-compatible
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped
    "http://[::ffff:0:127.0.0.1]/hook",  # IPv4-translated
    "http://[64:ff9b::7f00:1]/hook",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "http://[64:ff9b:1::a00:7]/hook",  # local-use NAT64
    "http://[2002:7f00:1::]/hook",  # 6to4 of 127.0.0.1
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://[fe80::1]/hook",
    "http://[fe80::1%25lo]/hook",  # link-local with a zone
    "http://[fc00::1]/hook",
    "http://[fd12:3456::1]/hook",  # unique local
    "http://[ff02::1]/hook",
]


@pytest.fixture
def keys_on(monkeypatch):
    """Settings as in production: API keys on, private webhooks not allowed."""
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=["k"]))


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_every_form_of_a_non_public_address_is_refused(keys_on, url):
    reason = webhooks.refused_destination(url)
    assert reason and ("not a public one" in reason or "scoped (link) address" in reason), reason


@pytest.mark.parametrize("url", ["http://localhost./hook", "http://no-such-host.invalid/hook"])
def test_a_name_that_does_not_resolve_is_refused(keys_on, url):
    assert "does not resolve" in (webhooks.refused_destination(url) or "")


@pytest.mark.parametrize(
    "url, words",
    [
        ("http://" + "a" * 70_000 + ".com/", "the limit is 2048"),
        ("ftp://example.com/hook", "http:// or https://"),
        ("javascript:alert(1)", "http:// or https://"),
        ("http://", "http:// or https://"),
        ("http://exa mple.com/", "not a valid name"),
        ("http://93.184.216.34:99999/", "port"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_a_malformed_or_huge_url_is_refused_saying_why_without_echoing_it(keys_on, url, words):
    reason = webhooks.refused_destination(url) or ""
    assert words in reason and len(reason) < 300, reason
    assert len(url) < 10 or url not in reason  # the URL itself is never echoed


def test_public_addresses_pass_and_the_opt_in_lets_private_ones_through(monkeypatch):
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=["k"]))
    assert webhooks.refused_destination("https://93.184.216.34/hook") is None
    assert webhooks.refused_destination("https://[2606:2800:220:1:248:1893:25c8:1946]/hook") is None
    assert webhooks.destination("https://93.184.216.34/hook").address == "93.184.216.34"
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=[]))  # keys off: local use
    assert webhooks.refused_destination("http://127.0.0.1:9000/hook") is None
    monkeypatch.setattr(webhooks, "settings", lambda: Settings(api_keys=["k"], webhook_allow_private=True))
    assert webhooks.refused_destination("http://10.0.0.7/hook") is None
    assert "does not resolve" in (webhooks.refused_destination("http://localhost./hook") or "")  # even so


class Receiver(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []
    trickle = False

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Receiver.seen.append((self.path, self.headers["Host"]))
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        for _ in range(100 if Receiver.trickle else 1):
            self.wfile.write(b"x" * (1 if Receiver.trickle else 100))
            self.wfile.flush()
            time.sleep(0.2 if Receiver.trickle else 0)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.seen, Receiver.trickle = [], False
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_the_call_goes_to_the_checked_address_and_names_the_host(receiver):
    """The name is never looked up again (it does not even resolve): the connection goes to
    the address given, the request still says Host: the name."""
    url = f"http://receiver.invalid:{receiver}/hooks/a"
    response = pinned_http.post(url, "127.0.0.1", content=b"{}", headers={}, deadline_s=5)
    assert response.status_code == 200
    assert Receiver.seen == [("/hooks/a", f"receiver.invalid:{receiver}")]


def test_a_receiver_that_trickles_its_answer_is_cut_off_at_the_deadline(receiver):
    Receiver.trickle = True  # 100 bytes, one every 0.2 s: each read is quick, the whole is 20 s
    start = time.monotonic()
    with pytest.raises(httpx.TimeoutException):
        pinned_http.post(f"http://127.0.0.1:{receiver}/slow", "127.0.0.1", content=b"{}", headers={}, deadline_s=1.5)
    assert time.monotonic() - start < 3

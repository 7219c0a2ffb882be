"""Where an outgoing call may go: a URL's host resolved once, and every address it gave
checked against the ranges that do not belong to the public internet.

It fails closed: a name that does not resolve is refused (not let through to fail later),
and so is any IPv6 address of a special-purpose range, whatever it embeds, since each of
them can reach an IPv4 address (or a link) the check above would refuse. The caller then
connects to the address checked here (shared.infra.pinned_http), never resolving again, so
the name cannot point elsewhere between the check and the call (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges refused outright (IANA's special-purpose registry, RFC 6890 and successors),
# by what they are: each embeds an IPv4 address or reaches a link or a site, not a host on
# the internet.
SPECIAL_IPV6 = {
    "::/96": "an IPv4-compatible address",
    "::ffff:0:0/96": "an IPv4-mapped address",
    "::ffff:0:0:0/96": "an IPv4-translated address",
    "64:ff9b::/96": "a NAT64 address",
    "64:ff9b:1::/48": "a local NAT64 address",
    "100::/64": "a discard-only address",
    "2001::/32": "a Teredo address",
    "2001:db8::/32": "a documentation address",
    "2002::/16": "a 6to4 address",
    "fc00::/7": "a unique local address",
    "fe80::/10": "a link-local address",
    "fec0::/10": "a site-local address",
    "ff00::/8": "a multicast address",
}
_SPECIAL = [(ipaddress.IPv6Network(net), what) for net, what in SPECIAL_IPV6.items()]


class Refused(ValueError):
    """The URL's host may not be called; the message says why (and names no raw input)."""


class Unresolved(Refused):
    """The host resolves to no address (now: a name server may answer later)."""


@dataclass(frozen=True)
class Destination:
    host: str  # as the URL names it: the Host header and the TLS server name
    address: str  # the address checked, the one to connect to


def why_not_public(address: IPAddress) -> str | None:
    """What makes an address not a public internet one, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped (link) address"
        for network, what in _SPECIAL:
            if address in network:
                return what
    for flag in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{flag}"):
            return f"a {flag.replace('_', '-')} address"
    if not address.is_global:  # shared (100.64/10), benchmarking, documentation, ...
        return "a special-purpose address"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an address literal: itself); Refused when none."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        infos = []
    addresses = [ipaddress.ip_address(str(info[4][0])) for info in infos]
    if not addresses:
        raise Unresolved("its host does not resolve to any address")
    return addresses


def destination(host: str, port: int, *, allow_private: bool) -> Destination:
    """The host resolved once: Refused when it does not resolve, or (unless allow_private)
    when any of its addresses is not public; else the first address, to connect to."""
    bare = host.strip("[]").replace("%25", "%")
    if "%" in bare and not allow_private:  # a zone (fe80::1%eth0): a link, not the internet
        raise Refused("it names a scoped (link) address")
    addresses = resolve(bare, port)
    if not allow_private:
        for address in addresses:
            if reason := why_not_public(address):
                raise Refused(
                    f"its host resolves to {reason} ({address}), not a public one; "
                    "CATALOG_WEBHOOK_ALLOW_PRIVATE=true allows it"
                )
    return Destination(host=bare, address=str(addresses[0]))

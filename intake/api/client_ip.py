"""The client's address, the key of every per-address limit.

The direct peer is the client, whatever headers it sends, unless it is one of
`INTAKE_HTTP__TRUSTED_PROXIES`: then `X-Forwarded-For` is read from the right (what the
nearest proxy appended) and the first address that is not a trusted proxy is the client.
Anything a client wrote further left is its own claim and never believed. uvicorn is told not
to rewrite the peer from these headers itself (`proxy_headers=False`), so this is the one
place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(scope: Scope, trusted_proxies: Sequence[str]) -> str | None:
    """The address a request or an ASGI scope comes from, as far as it can be believed."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if peer is None or not trusted_proxies:
        return peer
    networks = _networks(tuple(trusted_proxies))
    if not _trusted(peer, networks):
        return peer
    hops = [
        hop.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]  # a proxy's garbage must not make a huge key
    return hops[0][:64] if hops else peer


@lru_cache(maxsize=16)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)

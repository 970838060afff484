"""Where a webhook may point: http(s) URLs whose host resolves only to public addresses.

A webhook makes the gateway send requests to a URL a tenant chose, which is how SSRF
happens: ``http://169.254.169.254/`` (cloud metadata), ``http://localhost:6379/``, an
internal admin panel. The check runs twice: when an endpoint is registered (a clear
refusal), and again on every connection, against the addresses the connection
actually uses, so a name that re-resolves to a private address later (DNS rebinding)
is refused too. The connection is made to the checked address itself; TLS still
verifies the certificate against the URL's host name.

``allow_private`` (``CHAMBERLAIN_WEBHOOK_ALLOW_PRIVATE``) turns the address check off
for development and tests that run receivers on loopback; the scheme check stays.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["TargetForbidden", "check_url", "guarded_client", "resolve"]

MAX_URL = 2048


class TargetForbidden(httpcore.ConnectError):
    """The URL's host is not a public internet address (or does not resolve)."""


def check_url(url: str) -> httpx.URL:
    """``url`` parsed, if it is an absolute http(s) URL without credentials in it."""
    if len(url) > MAX_URL:
        raise ValueError(f"the URL is longer than {MAX_URL} characters")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise ValueError(f"not a URL: {err}") from err
    if parsed.scheme not in ("http", "https"):
        raise ValueError("webhook URLs must be http:// or https://")
    if not parsed.host:
        raise ValueError("the URL has no host")
    if parsed.userinfo:
        raise ValueError("put no credentials in the URL; the signature authenticates deliveries")
    if parsed.fragment:
        raise ValueError("the URL has a #fragment, which is never sent")
    return parsed


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
"""RFC 8215's prefix for translators inside a network: where the IPv4 address sits in it
is the network's choice, so none of it is a public destination."""
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address through a translator
        # (NAT64 64:ff9b::a9fe:a9fe is 169.254.169.254) or a relay (6to4 2002::/16), and
        # ipaddress calls several of them global: the IPv4 address inside must be public too.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and (ip in _IPV4_COMPATIBLE or ip in _NAT64):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip in _LOCAL_NAT64 or (embedded is not None and not (embedded.is_global and not embedded.is_multicast)):
            return False
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int, *, allow_private: bool) -> list[str]:
    """The addresses to connect to for ``host``; all must be public unless allowed."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise TargetForbidden(f"{host} does not resolve ({err.strerror})") from err
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        private = [a for a in addresses if not _public(a)]
        if private:  # one private answer is enough to refuse: no round-robin tricks
            where = f"{host} is" if private[0] == host else f"{host} resolves to"
            raise TargetForbidden(f"{where} a non-public address ({private[0]}); webhooks go to public addresses only")
    return addresses


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses ``resolve`` accepted, one after the other."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await resolve(host, port, allow_private=self.allow_private):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as err:
                failure = err
        raise failure or httpcore.ConnectError(f"no address to connect to for {host}")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_client(*, allow_private: bool, timeout_s: float, max_connections: int = 100) -> httpx.AsyncClient:
    """An HTTP client for webhook deliveries: the address guard on every connection, no
    redirects (a 3xx is a failed delivery, never a hop to somewhere else), no proxies
    or credentials from the environment."""
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx has no public hook for the network backend; its pool is httpcore's, built the same way.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(),
        max_connections=max_connections,
        network_backend=_GuardedBackend(allow_private),
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout_s, follow_redirects=False, trust_env=False)

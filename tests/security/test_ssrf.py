"""Server-side request forgery: making the gateway send requests where the attacker chooses.

Two ways out of the gateway exist. **Webhooks** go to a URL a tenant registers: it must be
http(s) to a public address, checked at registration and again on the addresses each
connection actually uses (so a name that later resolves to loopback is refused), and a
redirect is never followed. **Proxied upstreams** go to base URLs the *operator*
configured (internal addresses are legitimate there, and need no guard); what an agent
controls is arguments, which fill one encoded path segment each, query values and JSON
bodies, so they cannot change the host, walk the path, or follow a redirect elsewhere.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from chamberlain.demo import shop
from chamberlain.tenants import create_tenant
from tests.conftest import make_runtime, permit_all
from tests.pipeline.test_gateway import add_order
from tests.security.conftest import ACME, Gate, bearer, problem, refused
from tests.webhooks.test_webhooks import FAST, refund, register, settled

ONCE = {**FAST, "webhook_max_attempts": 1}


async def refund_until_dead(rt: Any) -> dict[str, Any]:
    """Refund an order with the deliverer running; the one delivery, once it is dead."""
    task = asyncio.create_task(rt.deliverer.run_forever())
    try:
        await refund(rt)
        (dead,) = await settled(rt, status="dead")
        return dict(dead)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


"""Deliveries that fail once are dead at once: the tests read the one attempt."""
PUBLIC = "93.184.215.14"
"""A public address (registration only resolves a name, it connects to nothing)."""


def register_over_rest(gate: Gate, http: httpx.Client, url: str) -> dict[str, Any]:
    resp = http.post(
        "/v1/actions/webhooks.register", json={"url": url, "types": ["order.refunded"]}, headers=bearer(gate.issue(ACME))
    )
    body = problem(resp, 422, "action-failed")
    entry = gate.audited(body["call_id"], "action-failed", ACME)
    assert entry["outcome"] == "error"
    return body


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # cloud metadata
        "http://[fd00:ec2::254]/latest/meta-data/",  # the same, over IPv6
        "http://localhost:6379/",
        "http://127.0.0.1:8000/v1/actions",
        "http://127.1/",
        "http://0/",
        "http://0x7f000001/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://10.0.0.7/hook",
        "http://172.16.5.4/hook",
        "http://192.168.1.1/admin",
        "http://100.64.0.1/hook",  # carrier-grade NAT
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:169.254.169.254]/hook",
        "http://[fe80::1]/hook",
        "http://[fc00::1]/hook",
        # IPv6 forms that carry an IPv4 address, reached through a translator or relay:
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b:1::a00:7]/",  # local-use NAT64
        "http://[2002:a9fe:a9fe::]/",  # 6to4 of 169.254.169.254
        "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    ],
)
def test_webhooks_to_internal_addresses_are_refused(gate: Gate, http: httpx.Client, url: str) -> None:
    body = register_over_rest(gate, http, url)
    # Forbidden once resolved; a form the URL parser itself refuses (0177.0.0.1) is an invalid URL.
    assert body["reason"] in ("webhook-target-forbidden", "webhook-url-invalid"), body


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "http://user:secret@example.com/hook", "ftp://example.com/"]
)
def test_webhooks_that_are_not_plain_http_urls_are_refused(gate: Gate, http: httpx.Client, url: str) -> None:
    assert register_over_rest(gate, http, url)["reason"] == "webhook-url-invalid"


NAMES: dict[str, list[str]] = {
    "loopback.attacker.test": ["127.0.0.1"],
    "metadata.attacker.test": ["169.254.169.254"],
    "round-robin.attacker.test": [PUBLIC, "10.1.2.3"],  # one private answer among public ones
    "nat64.attacker.test": ["64:ff9b::a9fe:a9fe"],
}


@contextmanager
def dns(names: dict[str, list[str]]) -> Iterator[None]:
    """The resolver, answering for ``names`` as an attacker's DNS server would (the gateway
    runs in this process, in a thread); other names resolve as usual."""
    real = socket.getaddrinfo

    def answer(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host in names:
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in names[host]
            ]
        return real(host, port, *args, **kw)

    socket.getaddrinfo = answer
    try:
        yield
    finally:
        socket.getaddrinfo = real


@pytest.mark.parametrize("name", sorted(NAMES))
def test_names_that_resolve_to_internal_addresses_are_refused(gate: Gate, http: httpx.Client, name: str) -> None:
    with dns(NAMES):
        body = register_over_rest(gate, http, f"https://{name}/hook")
    assert body["reason"] == "webhook-target-forbidden" and "non-public" in body["detail"]


@contextmanager
def listener(status: int = 204, location: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """An HTTP endpoint on loopback that records the paths it is sent, and answers ``status``."""
    got: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            self.rfile.read(int(self.headers.get("content-length", 0)))
            got.append(self.path)
            self.send_response(status)
            if location:
                self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()


async def test_a_name_that_turns_internal_after_registration_is_refused_at_delivery(tmp_path: Path) -> None:
    """DNS rebinding: public when registered, loopback when the delivery connects."""
    rt = make_runtime(shop, tmp_path / "d", **{**ONCE, "webhook_allow_private": False})
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "acme")
        await permit_all(rt)
        await add_order(rt, "acme")
        with listener() as (internal, got):
            port = internal.rsplit(":", 1)[1]
            names = {"hooks.attacker.test": [PUBLIC]}
            with dns(names):
                await register(rt, f"http://hooks.attacker.test:{port}/hook", ["order.refunded"])
                names["hooks.attacker.test"] = ["127.0.0.1"]  # the attacker's DNS answers differently now
                dead = await refund_until_dead(rt)
        assert got == [], "nothing reached the internal endpoint"
        assert dead["last_error"].startswith("refused: hooks.attacker.test resolves to a non-public address (127.0.0.1)")


async def test_a_webhook_redirect_is_not_followed(tmp_path: Path) -> None:
    """A receiver answering 302 to an internal URL: a failed delivery, never a request there."""
    rt = make_runtime(shop, tmp_path / "d", **ONCE)  # loopback allowed here, for the test's receivers
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "acme")
        await permit_all(rt)
        await add_order(rt, "acme")
        with listener() as (internal, got), listener(302, f"{internal}/admin") as (redirector, hops):
            await register(rt, f"{redirector}/hook", ["order.refunded"])
            dead = await refund_until_dead(rt)
        assert got == [] and hops == ["/hook"]
        assert dead["last_status"] == 302 and dead["last_error"] == "HTTP 302"


# --- proxied upstreams --------------------------------------------------------------------


def pet(gate: Gate, http: httpx.Client, action: str, pet_id: Any) -> httpx.Response:
    token = gate.issue(ACME, ["pets.*"], principal="agent:pets")
    return http.post(f"/v1/actions/{action}", json={"pet_id": pet_id}, headers=bearer(token))


@pytest.mark.parametrize(
    "pet_id",
    [
        "../admin",
        "..%2Fadmin",
        "%2e%2e/admin",
        "p_1/../../admin",
        "p_1?x=1#frag",
        "http://169.254.169.254/latest/meta-data/",
        "//localhost/admin",
        "p_1\r\nHost: localhost",
    ],
)
def test_an_agents_arguments_cannot_steer_a_proxied_call(gate: Gate, http: httpx.Client, pet_id: str) -> None:
    """Whatever the argument, it is one encoded path segment on the configured host."""
    gate.upstream.hits.clear()
    body = problem(pet(gate, http, "pets.get_pet", pet_id), 404, "upstream-not-found")
    gate.audited(body["call_id"], "upstream-not-found", ACME)
    (hit,) = gate.upstream.hits
    assert hit.startswith("/pets/") and "/" not in hit.removeprefix("/pets/") and "?" not in hit, hit


@pytest.mark.parametrize("pet_id", ["..", ".", ""])
def test_a_dot_segment_is_refused_before_anything_is_sent(gate: Gate, http: httpx.Client, pet_id: str) -> None:
    gate.upstream.hits.clear()
    body = problem(pet(gate, http, "pets.get_pet", pet_id), 422, "invalid-input")
    gate.audited(body["call_id"], "invalid-input", ACME)
    assert gate.upstream.hits == []


def test_an_upstream_redirect_is_not_followed(gate: Gate, http: httpx.Client) -> None:
    """The upstream answers 302 to another host's /admin: refused, and nothing goes there
    (the gateway's credentials for the upstream stay with the upstream)."""
    gate.upstream.hits.clear()
    body = refused(gate, pet(gate, http, "pets.get_photo", "p_1"), 502, "upstream-failed", ACME)
    assert body["upstream_status"] == 302, body
    assert gate.upstream.hits == ["/pets/p_1/photo"]

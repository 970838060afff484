"""The gateway the attack suite attacks, and how a test checks that an attack was refused
*and* that the refusal was recorded.

One real gateway per run of the suite: the demo shop (tenants ``acme-shop`` and
``globex-store``, seeded), plus a governed upstream REST API (``pets``, from an OpenAPI
document through a proxy config file), served by uvicorn on loopback in a thread, so it
runs on every backend (SQLite, PostgreSQL, silos). Tests speak to it over HTTP, MCP (the
official SDK's client), the console (a logged-in session cookie) and the CLI (click's
runner, on the same data folder).

``Gate.inspect`` looks behind the gateway: a second runtime on the same data, in a thread
and event loop of its own, reads the call records and the tenants' audit logs (and, for
the log-tampering attacks, writes to the database as an attacker with database access
would).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from chamberlain.app import Runtime, create_app
from chamberlain.demo import seed, shop
from chamberlain.errors import ERROR_BASE_URI
from chamberlain.limits import Rate, TenantLimits
from chamberlain.store import calls, tenant_scope
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime
from tests.helpers import free_port, serve_in_thread

T = TypeVar("T")

ACME, GLOBEX, TAMPER, FLOOD = "acme-shop", "globex-store", "tamper-co", "flood-co"
"""The two demo tenants, one whose log the tampering attacks may break, and one whose
refunds are limited to 3 a minute (``FLOOD_RATE``), for the attacks on rate limits."""
FLOOD_RATE = "3/minute"
PASSWORD = "correct horse battery staple"
READ_TIMEOUT_S = 3.0
"""The gateway's ``request_read_timeout_s``: short, so a slow client is dropped soon."""


class Inspector:
    """A runtime on the gateway's data, on an event loop in a thread of its own (the
    store binds to the loop that opened it), usable from sync and async tests alike."""

    def __init__(self, data: Path, **settings: object) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.rt = make_runtime(shop, data, **settings)
        self.run(lambda rt: rt.open())

    def run(self, work: Callable[[Runtime], Awaitable[T]]) -> T:
        async def go() -> T:
            return await work(self.rt)

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(60)

    def close(self) -> None:
        self.run(lambda rt: rt.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@dataclass
class Upstream:
    """A REST API the gateway governs (``pets``): it records what reaches it. ``/admin``
    stands for an internal endpoint that nothing an agent sends may reach."""

    base: str = ""
    hits: list[str] = field(default_factory=list)

    def app(self) -> Any:
        async def pet(request: Request) -> Response:
            if request.path_params["pet_id"] == "p_1":
                return JSONResponse({"id": "p_1", "name": "Rex"})
            return JSONResponse({"detail": "no such pet"}, status_code=404)

        async def photo(request: Request) -> Response:
            # An upstream (compromised, or just odd) that sends the gateway elsewhere.
            return RedirectResponse(self.base.replace("127.0.0.1", "localhost") + "/admin", 302)

        async def admin(request: Request) -> Response:
            return JSONResponse({"secret": "internal"})

        async def create(request: Request) -> Response:
            return JSONResponse({"id": "p_2", **(await request.json())}, status_code=201)

        app = Starlette(
            routes=[
                Route("/pets", create, methods=["POST"]),
                Route("/pets/{pet_id}", pet),
                Route("/pets/{pet_id}/photo", photo),
                Route("/admin", admin),
                Route("/healthz", lambda request: JSONResponse({"status": "ok"})),
            ]
        )

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] != "/healthz":
                query = scope["query_string"].decode()
                self.hits.append(scope["raw_path"].decode() + (f"?{query}" if query else ""))  # routed or not
            await app(scope, receive, send)

        return recording


PETS_SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "pets", "version": "1"},
    "paths": {
        path: {
            "get": {
                "operationId": operation,
                "parameters": [{"name": "pet_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        }
        for path, operation in (("/pets/{pet_id}", "getPet"), ("/pets/{pet_id}/photo", "getPhoto"))
    }
    | {
        "/pets": {
            "post": {
                "operationId": "createPet",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            # ``attributes`` is free-form JSON: what an agent may nest as deep as it likes
                            "schema": {
                                "type": "object",
                                "properties": {"name": {"type": "string"}, "attributes": {"type": "object"}},
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "made", "content": {"application/json": {"schema": {"type": "object"}}}}},
            }
        }
    },
}


@dataclass
class Gate:
    base: str
    data: Path
    grants: dict[str, str]
    inspect: Inspector
    upstream: Upstream

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"

    def issue(self, tenant: str = ACME, actions: list[str] | None = None, **kw: Any) -> str:
        return self.inspect.run(lambda rt: issue(rt, tenant, actions or ["*"], **kw))

    def issue_grant(self, tenant: str, actions: list[str], ttl: timedelta = timedelta(hours=1), **kw: Any) -> Any:
        """The issued grant itself (id, token), with any of ``GrantAuthority.issue``'s options."""
        return self.inspect.run(lambda rt: rt.authority.issue(tenant, "agent:sec-test", actions, ttl, **kw))

    def record(self, call_id: str, tenant: str | None = None) -> dict[str, Any]:
        """A call record; read in ``tenant``'s scope when it is known (its own database, when
        tenants have databases of their own), else wherever it is."""

        async def read(rt: Runtime) -> Any:
            with tenant_scope(tenant) if tenant is not None else nullcontext():
                return await rt.store.fetch_one(select(calls).where(calls.c.id == call_id))

        row = self.inspect.run(read)
        assert row is not None, f"no call record {call_id}"
        return dict(row)

    def log_entries(self, tenant: str, call_id: str) -> list[dict[str, Any]]:
        async def search(rt: Runtime) -> list[dict[str, Any]]:
            with tenant_scope(tenant):
                return await rt.audit.search(tenant, kind=None, call_id=call_id, limit=10)

        return [found["entry"] for found in self.inspect.run(search)]

    def audited(self, call_id: str, code: str, tenant: str | None) -> dict[str, Any]:
        """Assert that call ``call_id`` is recorded as refused with ``code`` and, when the
        refusal's tenant is known, that its entry in that tenant's log says so too. A
        refusal before any tenant is known (a forged grant) is in the call records only:
        writing unverified claims into a tenant's log would let anyone fill it."""
        record = self.record(call_id, tenant)
        assert record["error_type"] == ERROR_BASE_URI + code, record
        assert record["tenant_id"] == tenant, record
        assert record["outcome"] in ("refused", "error"), record
        if tenant is None:
            return record
        entries = self.log_entries(tenant, call_id)
        assert entries, f"call {call_id} ({code}) is not in {tenant}'s audit log"
        (entry,) = entries
        assert entry["error_type"] == ERROR_BASE_URI + code and entry["tenant"] == tenant, entry
        assert entry["kind"] in ("call.refused", "call.executed"), entry
        return entry

    def refusals(self, tenant: str, action: str) -> set[str]:
        """Ids of the refused calls of ``action`` recorded in ``tenant`` (for surfaces that
        answer people with a page, not a problem naming the record)."""
        query = select(calls.c.id).where(calls.c.tenant_id == tenant, calls.c.action == action, calls.c.decision == "refused")

        async def read(rt: Runtime) -> Any:
            with tenant_scope(tenant):
                return await rt.store.fetch_all(query)

        return {str(r["id"]) for r in self.inspect.run(read)}

    def new_refusal(self, tenant: str, action: str, before: set[str]) -> str:
        (new,) = self.refusals(tenant, action) - before
        return new


def problem(resp: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The RFC 9457 problem of a refusal, checked: status, type and content type."""
    assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert body["type"] == ERROR_BASE_URI + code and body["code"] == code and body["status"] == status, body
    return body


def refused(gate: Gate, resp: httpx.Response, status: int, code: str, tenant: str | None) -> dict[str, Any]:
    """Refused with ``code`` (problem+json) and recorded: the problem names the call record."""
    body = problem(resp, status, code)
    gate.audited(body["call_id"], code, tenant)
    return body


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


@contextmanager
def console(gate: Gate, tenant: str, username: str) -> Iterator[httpx.Client]:
    """An HTTP client holding a logged-in console session (its cookie)."""
    with httpx.Client(base_url=gate.base, timeout=30) as client:
        form = {"tenant": tenant, "username": username, "password": PASSWORD}
        logged_in = client.post("/console/login", data=form)
        assert logged_in.status_code == 303 and "chamberlain_console" in client.cookies, logged_in.text[:300]
        yield client


def csrf(page: httpx.Response) -> str:
    """The session's form token, as every console page carries it."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found is not None, page.text[:300]
    return found.group(1)


@pytest.fixture(scope="session")
def gate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gate]:
    data = tmp_path_factory.mktemp("security")
    upstream = Upstream()
    with serve_in_thread(upstream.app(), free_port()) as upstream_base:
        upstream.base = upstream_base
        (data / "pets.json").write_text(json.dumps(PETS_SPEC))
        (data / "proxy.toml").write_text(f'[[openapi]]\nname = "pets"\nspec = "pets.json"\nbase_url = "{upstream_base}"\n')
        settings = {"proxy_config": data / "proxy.toml", "request_read_timeout_s": READ_TIMEOUT_S}
        inspector = Inspector(data, **settings)

        async def prepare(rt: Runtime) -> dict[str, str]:
            tenants = await seed(rt)
            await create_tenant(rt.store, rt.keys, TAMPER, "Tamper Co")
            await create_tenant(rt.store, rt.keys, FLOOD, "Flood Co")
            await TenantLimits(rt.store, refresh_s=0).set(FLOOD, "orders.refund", Rate.parse(FLOOD_RATE), None, "test")
            await rt.people.add(ACME, "rita", "human:rita", PASSWORD, admin=True)
            await rt.people.add(GLOBEX, "gina", "human:gina", PASSWORD)
            return {t.id: t.grant.token for t in tenants}

        try:
            grants = inspector.run(prepare)
            with serve_in_thread(create_app(make_runtime(shop, data, **settings)), free_port()) as base:
                yield Gate(base, data, grants, inspector, upstream)
        finally:
            inspector.close()


@pytest.fixture
def http(gate: Gate) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gate.base, timeout=30) as client:
        yield client

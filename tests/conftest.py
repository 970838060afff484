"""Shared fixtures: real SQLite stores in tmp folders and a real demo gateway on loopback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from chamberlain import Surface
from chamberlain.app import Runtime, create_app
from chamberlain.config import Settings
from chamberlain.demo import seed, shop
from chamberlain.store import make_store
from chamberlain.tenants import create_tenant, tenant_exists
from tests import backends
from tests.helpers import free_port, serve_in_thread

if backends.BACKEND == "postgres":
    # Every Settings without an explicit database_url gets its data folder's own database.
    Settings.store_url = property(  # type: ignore[method-assign,assignment]
        lambda self: self.database_url or backends.database_for(self.data_dir)
    )


if backends.BACKEND == "silo":
    # Hybrid tenancy with every tenant in a silo: the shared database keeps the directory
    # and the keys, each tenant's rows go to a SQLite file of its own beside it.
    import chamberlain.app

    def _silo_every_tenant(url: str, **kw: object) -> object:
        if kw.get("tenant_databases") is None:
            kw["tenant_databases"] = backends.silo_template(url)
        return make_store(url, **kw)  # type: ignore[arg-type]

    chamberlain.app.make_store = _silo_every_tenant  # type: ignore[assignment]


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    if backends.BACKEND == "postgres":
        backends.drop_all()


def make_runtime(surface: Surface, data_dir: Path, **settings: object) -> Runtime:
    return Runtime(surface, Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """An opened runtime over the demo shop with tenants 'acme' and 'globex' (no seed data)."""
    rt = make_runtime(shop, tmp_path / "data")
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await create_tenant(rt.store, rt.keys, "globex", "Globex")
        yield rt


async def issue(
    rt: Runtime,
    tenant: str = "acme",
    actions: list[str] | None = None,
    ttl: timedelta = timedelta(hours=1),
    principal: str = "agent:test",
    on_behalf_of: str | None = None,
) -> str:
    grant = await rt.authority.issue(tenant, principal, actions or ["*"], ttl, on_behalf_of=on_behalf_of)
    return grant.token


def new_key() -> str:
    """A fresh idempotency key: what a careful client sends with each new write."""
    return uuid.uuid4().hex


PERMIT_ALL = {"all.cedar": "permit (principal, action, resource);"}


async def permit_all(rt: Runtime, tenant: str = "acme") -> None:
    """Replace the default policies with one that never asks for approval (tests of other concerns)."""
    await rt.policies.publish(tenant, PERMIT_ALL, author="operator:test")


@dataclass
class DemoServer:
    base: str
    data: Path
    grants: dict[str, str]

    async def issue(self, tenant: str = "acme-shop", actions: list[str] | None = None, **kw: object) -> str:
        """A further grant, issued through a second runtime on the same database."""
        rt = make_runtime(shop, self.data)
        async with rt.running():
            return await issue(rt, tenant, actions, **kw)  # type: ignore[arg-type]

    async def add_approver(self, tenant: str, principal: str) -> None:
        rt = make_runtime(shop, self.data)
        async with rt.running():
            if not await tenant_exists(rt.store, tenant):
                await create_tenant(rt.store, rt.keys, tenant, tenant)
            await rt.roles.add(tenant, principal, "approver")

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"


@pytest.fixture
def client(demo_server: DemoServer) -> Iterator[httpx.Client]:
    """An HTTP client for the demo server."""
    with httpx.Client(base_url=demo_server.base, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The demo shop on a real uvicorn server, seeded, with one grant per tenant."""
    data = tmp_path_factory.mktemp("demo")
    rt = make_runtime(shop, data)

    async def prepare() -> dict[str, str]:
        await rt.open()
        tenants = await seed(rt)
        await rt.close()
        return {t.id: t.grant.token for t in tenants}

    grants = asyncio.run(prepare())
    # A fresh runtime for the server's own event loop (the store binds to its loop).
    server_rt = make_runtime(shop, data)
    with serve_in_thread(create_app(server_rt), free_port()) as base:
        yield DemoServer(base, data, grants)

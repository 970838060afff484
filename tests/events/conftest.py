"""A demo shop on a real server with quick heartbeats, shared by the stream tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chamberlain.app import create_app
from chamberlain.demo import seed, shop
from tests.conftest import issue, make_runtime, new_key
from tests.helpers import free_port, serve_in_thread
from tests.surfaces.rest.test_rest import bearer

ACME, GLOBEX = "acme-shop", "globex-store"
SETTINGS = {"event_heartbeat_s": 0.3, "event_poll_s": 0.2}


@dataclass
class Server:
    base: str
    data: Path
    grants: dict[str, str]

    def issue(self, tenant: str, actions: list[str], **kw: object) -> str:
        async def go() -> str:
            rt = make_runtime(shop, self.data)
            async with rt.running():
                return await issue(rt, tenant, actions, **kw)  # type: ignore[arg-type]

        return asyncio.run(go())

    def on_runtime(self, fn) -> object:  # type: ignore[no-untyped-def]
        async def go() -> object:
            rt = make_runtime(shop, self.data)
            async with rt.running():
                return await fn(rt)

        return asyncio.run(go())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("events")

    async def prepare() -> dict[str, str]:
        rt = make_runtime(shop, data)
        async with rt.running():
            return {t.id: t.grant.token for t in await seed(rt)}

    grants = asyncio.run(prepare())
    with serve_in_thread(create_app(make_runtime(shop, data, **SETTINGS)), free_port()) as base:
        yield Server(base, data, grants)


def refund(client: httpx.Client, token: str, order: str = "o_1006", minor: int = 1) -> str:
    body = {"order_id": order, "amount": {"amount_minor": minor, "currency": "EUR"}, "reason": "test"}
    resp = client.post("/v1/actions/orders.refund", json=body, headers={**bearer(token), "Idempotency-Key": new_key()})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["call_id"])

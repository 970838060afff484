"""Outages of PostgreSQL, Redis and NATS under a write load, played by fault proxies in
front of the real servers (which other tests share, and which keep running).

One gateway, configured for production (PostgreSQL, Redis, NATS, each through its
proxy), serves a refund load throughout. The database's connections are cut, then the
database is down for a while; then Redis; then NATS. While a service is away, calls
that need it fail with retryable problems and never run without what guards them (a
rate-limited call is not let through uncounted, no call runs without its record); once
it is back, calls succeed again with no restart of the gateway; and the events
committed while NATS was away reach a stream that only NATS feeds (outbox polling off).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import select

from chamberlain import Context, Surface
from chamberlain.app import create_app
from chamberlain.limits import Rate
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime
from tests.faults.conftest import TARGET, TENANT, answering
from tests.faults.load import Load, latest_event, prepare, runtime, state
from tests.faults.proxy import FaultProxy
from tests.faults.spawner import Spawner, alive
from tests.helpers import free_port, serve_in_thread

pytestmark = pytest.mark.embedded

CLIENTS = 4
NEVER = "3600"
"""The outbox poll, off: whatever reaches a stream came through NATS (or the outbox read
that fills a gap NATS showed)."""
GET_RATE = Rate.parse("5/minute")
"""orders.get in this tenant: what must hold across a Redis outage."""


@pytest.fixture
def proxies() -> Iterator[dict[str, FaultProxy]]:
    with FaultProxy(5432) as pg, FaultProxy(6379) as redis, FaultProxy(4222) as nats:
        yield {"postgres": pg, "redis": redis, "nats": nats}


class Gateway:
    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.auth = {"Authorization": f"Bearer {token}"}

    async def ready(self) -> tuple[int, dict[str, Any]]:
        async with httpx.AsyncClient(timeout=15) as client:
            resp = await client.get(self.base + "/readyz")
        return resp.status_code, {c["name"]: c for c in resp.json()["checks"]}

    async def call(self, action: str, arguments: dict[str, Any], **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=15) as client:
            return await client.post(f"{self.base}/v1/actions/{action}", json=arguments, headers={**self.auth, **headers})

    async def mcp_refund(self) -> httpx.Response:
        """A refund over MCP."""
        arguments = {
            "order_id": "o_1001",
            "amount": {"amount_minor": 1, "currency": "EUR"},
            "reason": "fault drill",
            "idempotency_key": uuid.uuid4().hex,
        }
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "orders.refund", "arguments": arguments}}
        headers = {**self.auth, "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
        async with httpx.AsyncClient(timeout=15) as client:
            return await client.post(self.base + "/mcp", json=body, headers=headers)


def mcp_problem(resp: httpx.Response) -> dict[str, Any]:
    """The problem an MCP call was refused with: at the HTTP level (the grant could not be
    checked before the JSON-RPC request was read), or as the tool's error."""
    if resp.status_code != 200:
        assert resp.headers["content-type"].startswith("application/problem+json"), resp.text
        return dict(resp.json())
    result = resp.json()["result"]
    assert result["isError"], result
    return dict(result["structuredContent"])


def problems(load: Load, phase: str) -> dict[str, int]:
    return {k.split(": ", 1)[1]: n for k, n in load.tally.problems.items() if k.startswith(phase + ": ")}


async def test_database_redis_and_nats_outages_fail_retryably_never_open_and_heal_by_themselves(
    tmp_path: Path, zygote: Spawner, proxies: dict[str, FaultProxy], postgres_database: str, names: dict[str, str]
) -> None:
    pg, redis, nats = proxies["postgres"], proxies["redis"], proxies["nats"]
    data, port, log = tmp_path / "gateway", free_port(), tmp_path / "gateway.log"
    token = await prepare(data, postgres_database)
    async with runtime(data, postgres_database).running() as rt:
        await rt.gateway.tenant_limits.set(TENANT, "orders.get", GET_RATE, None, by="test")
    env = {
        **names,
        "CHAMBERLAIN_DATABASE_URL": postgres_database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{pg.port}/"),
        "CHAMBERLAIN_REDIS_URL": redis.url("redis", "/0"),
        "CHAMBERLAIN_NATS_URL": nats.url("nats"),
        "CHAMBERLAIN_EVENT_POLL_S": NEVER,
    }
    assert env["CHAMBERLAIN_DATABASE_URL"] != postgres_database
    base = f"http://127.0.0.1:{port}"
    pid = zygote.serve(TARGET, port, data, env, log)
    await answering(base, pid, log)
    gateway = Gateway(base, token)
    status, checks = await gateway.ready()
    assert status == 200 and "connected" in checks["nats"]["detail"], checks

    load = Load(base, token, "outage drill")
    seen: dict[str, Any] = {}
    load.start(CLIENTS)
    try:
        await drill(load, gateway, pg, redis, nats, seen)
    except BaseException:
        await load.stop(finish=False)
        raise
    await load.stop()
    assert alive(pid), "the gateway ran through every outage, never restarted"

    used, after = seen["used"], seen["after"]
    summary = {**load.summary(), "orders.get before and after the Redis outage": [used, after]}
    summary["proxied connections accepted / reset"] = {
        name: (proxy.counts.accepted, proxy.counts.reset) for name, proxy in proxies.items()
    }
    print("\n" + json.dumps(summary))

    # The database down: refused with retryable problems (the grant's revocation check, or
    # the call record, could not be read or written), on MCP too; not ready meanwhile.
    assert set(problems(load, "database down")) <= {"503 revocation-unavailable", "503 store-unavailable"}, load.tally.problems
    status, checks = seen["readyz, database down"]
    assert status == 503 and not checks["database"]["ok"], checks
    mcp = seen["mcp, database down"]
    assert mcp_problem(mcp)["retryable"] is True and mcp.status_code in (200, 500, 503), mcp.text
    assert "psycopg" not in mcp.text and "127.0.0.1" not in mcp.text, mcp.text  # nothing internal leaks
    # Redis connections cut (a restart that is over at once): no call notices, each
    # command that met a dead connection ran again on a new one.
    assert problems(load, "redis cut") == {}, load.tally.problems
    # Redis down or hung: a rate-limited call is refused, never let through uncounted...
    assert set(problems(load, "redis down")) == {"503 limiter-unavailable"}, load.tally.problems
    assert set(problems(load, "redis hung")) == {"503 limiter-unavailable"}, load.tally.problems
    for resp in seen["orders.get, redis down"]:
        assert resp.status_code == 503 and resp.json()["code"] == "limiter-unavailable" and resp.json()["retryable"]
        assert resp.headers["retry-after"]
    # ...so the limit holds across the outage: 5 a minute, before and after together.
    assert used == [200, 200] and 200 in after and after[-1] == 429, (used, after)
    assert used.count(200) + after.count(200) <= GET_RATE.limit, (used, after)
    assert seen["orders.list (no rate), redis down"].status_code == 200  # what needs no limiter goes on
    status, checks = seen["readyz, redis down"]
    assert status == 503 and not checks["redis"]["ok"] and checks["database"]["ok"], checks
    # NATS down: calls do not need it (their events wait in the outbox); it only degrades.
    assert problems(load, "nats down") == {} and problems(load, "nats back") == {}, load.tally.problems
    status, checks = seen["readyz, nats down"]
    assert status == 200 and "degraded" in checks["nats"]["detail"], checks

    # Afterwards: every retry replays its first outcome, each refund ran once with its
    # record and entry, the log verifies, and the stream (fed by NATS alone) got every
    # event, those committed while NATS was away included, once and in order.
    await load.replay_all()
    await load.streamed(await latest_event(data, postgres_database))
    zygote.kill(pid)
    load.check(await state(data, postgres_database))


async def drill(load: Load, gateway: Gateway, pg: FaultProxy, redis: FaultProxy, nats: FaultProxy, seen: dict[str, Any]) -> None:
    """The outages, one after the other, under the load; what was answered meanwhile goes
    into ``seen``."""
    await load.answered(10)

    # PostgreSQL: every connection cut mid-load (a failover), then down a while (a restart).
    load.phase = "database cut"
    pg.drop()
    await load.answered(10)
    load.phase = "database down"
    pg.refuse()
    await load.until(lambda: sum(problems(load, "database down").values()) >= 20)
    seen["readyz, database down"] = await gateway.ready()
    seen["mcp, database down"] = await gateway.mcp_refund()
    pg.recover()
    await load.answered(10)

    # Redis: connections cut, then down, then hung; refunds are rate-limited, so they wait for it.
    load.phase = "redis cut"
    redis.drop()
    await load.answered(10)
    used = [(await gateway.call("orders.get", {"order_id": "o_1001"})).status_code for _ in range(2)]
    seen["used"] = used
    load.phase = "redis down"
    redis.refuse()
    await load.until(lambda: problems(load, "redis down").get("503 limiter-unavailable", 0) >= 10)
    seen["orders.get, redis down"] = [await gateway.call("orders.get", {"order_id": "o_1001"}) for _ in range(3)]
    seen["orders.list (no rate), redis down"] = await gateway.call("orders.list", {})
    seen["readyz, redis down"] = await gateway.ready()
    redis.recover()
    await load.answered(10)
    load.phase = "redis hung"
    redis.stall()
    await load.until(lambda: problems(load, "redis hung").get("503 limiter-unavailable", 0) >= CLIENTS)
    redis.recover()
    await load.answered(10)
    after: list[int] = []
    while not after or after[-1] == 200:  # until the limit refuses
        after.append((await gateway.call("orders.get", {"order_id": "o_1001"})).status_code)
    seen["after"] = after

    # NATS: down long enough for its client to give up (five reconnects) and the bus to
    # start over with new connections (two more), then back.
    load.phase = "nats down"
    nats.refuse()
    await load.until(lambda: nats.counts.reset >= 8)
    await load.answered(10)
    seen["readyz, nats down"] = await gateway.ready()
    nats.recover()
    for _ in range(600):  # a hang guard, not a latency bound
        if "connected" in (await gateway.ready())[1]["nats"]["detail"]:
            break
        load.raise_if_failed()
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the gateway never connected to NATS again")
    load.phase = "nats back"
    await load.answered(10)


class Done(BaseModel):
    done: bool


cutting = Surface("faults", description="An action during which the database goes away.")
_cut: list[FaultProxy] = []


@cutting.action("db.cut", risk="write")
async def cut_the_database(ctx: Context) -> Done:
    """The database goes away after the grant was checked, before the handler's first statement."""
    _cut[0].refuse()
    await ctx.tx.execute(select(1))
    return Done(done=True)


async def test_a_database_lost_mid_call_is_a_retryable_problem_on_rest_and_mcp(
    tmp_path: Path, proxies: dict[str, FaultProxy], postgres_database: str
) -> None:
    """Past the grant check, the call cannot run and its failure cannot be recorded: the
    caller is still answered the gateway's retryable problem, on MCP as on REST, and
    nothing of the database's own error reaches it."""
    pg = proxies["postgres"]
    _cut[:] = [pg]
    setup = make_runtime(cutting, tmp_path, database_url=postgres_database)
    async with setup.running():
        await create_tenant(setup.store, setup.keys, "acme", "Acme")
        token = await issue(setup, "acme", ["db.cut"])
    served = make_runtime(cutting, tmp_path, database_url=postgres_database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{pg.port}/"))
    auth = {"Authorization": f"Bearer {token}"}
    with serve_in_thread(create_app(served), free_port()) as base:
        async with httpx.AsyncClient(timeout=15) as client:
            rest = await client.post(base + "/v1/actions/db.cut", json={}, headers={**auth, "Idempotency-Key": uuid.uuid4().hex})
            pg.recover()
            call = {"name": "db.cut", "arguments": {"idempotency_key": uuid.uuid4().hex}}
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
            headers = {**auth, "Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
            mcp = await client.post(base + "/mcp", json=body, headers=headers)
            pg.recover()
    assert rest.status_code == 503 and rest.json()["code"] == "store-unavailable" and rest.json()["retryable"] is True, rest.text
    assert rest.headers["Retry-After"] == "1"
    assert mcp.status_code == 200 and "error" not in mcp.json(), mcp.text
    problem = mcp_problem(mcp)
    assert problem["code"] == "store-unavailable" and problem["retryable"] is True, problem
    for resp in (rest, mcp):
        assert "psycopg" not in resp.text and "5432" not in resp.text and str(pg.port) not in resp.text, resp.text

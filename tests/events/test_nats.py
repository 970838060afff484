"""The NATS JetStream bus against the real local server: events pushed between
processes, in order, once each, and never lost when a publish is (the outbox fills gaps)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from chamberlain.app import Runtime
from chamberlain.demo import shop
from chamberlain.events import EventFilter, NatsBus
from chamberlain.events._nats import stream_name
from chamberlain.health import readiness
from chamberlain.store import tenant_transaction
from chamberlain.tenants import create_tenant
from tests.conftest import make_runtime

NATS = "nats://127.0.0.1:4222"
NEVER = 3600.0
"""An event poll that never comes within a test: what arrives, arrived through NATS."""


@pytest.fixture
async def subjects() -> AsyncIterator[str]:
    """Each test its own subjects and stream, deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}.events"
    yield prefix
    nc = await nats.connect(NATS)
    try:
        await nc.jetstream().delete_stream(stream_name(prefix))
    finally:
        await nc.close()


def nats_runtime(data: Path, subjects: str, **settings: Any) -> Runtime:
    rt = make_runtime(shop, data, nats_url=NATS, nats_prefix=subjects, event_poll_s=NEVER, **settings)
    assert isinstance(rt.events.bus, NatsBus)
    return rt


async def emit(rt: Runtime, n: int, tenant: str = "acme") -> None:
    async with tenant_transaction(rt.store, tenant) as tx:
        await rt.events.emit(tx, tenant, "policy.changed", {"n": n})


async def collect(sub: Any, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        batch = await sub.next(20)  # a hang guard, not a latency bound
        assert batch is not None, f"only {len(got)} of {count} events arrived"
        got += batch
    return got


async def test_another_process_commits_and_this_ones_subscribers_hear_it_at_once(tmp_path: Path, subjects: str) -> None:
    here, there = nats_runtime(tmp_path, subjects), nats_runtime(tmp_path, subjects)
    async with here.running(), there.running():
        await create_tenant(here.store, here.keys, "acme", "Acme")
        await create_tenant(here.store, here.keys, "globex", "Globex")
        async with here.events.subscribe("acme", EventFilter()) as sub:
            for n in range(5):
                await emit(there, n)
            await emit(there, 99, tenant="globex")  # another tenant's subject: not for this follower
            got = await collect(sub, 5)
        assert [e["data"]["n"] for e in got] == [0, 1, 2, 3, 4] and [e["sequence"] for e in got] == [1, 2, 3, 4, 5]
        checks = await readiness(here.store, here.limiter, here.events.bus)
        assert checks[-1].name == "nats" and checks[-1].ok and "connected" in checks[-1].detail


async def test_a_lost_publish_is_found_in_the_outbox(tmp_path: Path, subjects: str) -> None:
    """A process that committed but never published (it died; or it has no NATS): the next
    event that does arrive shows the gap, and the follower reads what lies between."""
    here, there = nats_runtime(tmp_path, subjects), nats_runtime(tmp_path, subjects)
    silent = make_runtime(shop, tmp_path, event_poll_s=NEVER)  # the outbox only
    async with here.running(), there.running(), silent.running():
        await create_tenant(here.store, here.keys, "acme", "Acme")
        async with here.events.subscribe("acme", EventFilter()) as sub:
            await emit(there, 0)
            await emit(silent, 1)
            await emit(silent, 2)
            await emit(there, 3)
            got = await collect(sub, 4)
        assert [e["data"]["n"] for e in got] == [0, 1, 2, 3] and [e["sequence"] for e in got] == [1, 2, 3, 4]


async def test_a_message_published_twice_is_delivered_once(tmp_path: Path, subjects: str) -> None:
    here, there = nats_runtime(tmp_path, subjects), nats_runtime(tmp_path, subjects)
    async with here.running(), there.running():
        await create_tenant(here.store, here.keys, "acme", "Acme")
        async with here.events.subscribe("acme", EventFilter()) as sub:
            await emit(there, 0)
            first = await there.events.read("acme", 0, 10)
            bus = there.events.bus
            assert isinstance(bus, NatsBus)
            await bus._publish("acme", first)  # a relay that repeats itself
            await emit(there, 1)
            got = await collect(sub, 2)
        assert [e["sequence"] for e in got] == [1, 2]


async def test_without_nats_events_still_flow_from_the_outbox(tmp_path: Path) -> None:
    rt = make_runtime(shop, tmp_path, nats_url="nats://127.0.0.1:1", event_poll_s=0.05)
    assert isinstance(rt.events.bus, NatsBus)
    rt.events.bus.fallback_s = 0.2
    other = make_runtime(shop, tmp_path)
    async with rt.running(), other.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        async with rt.events.subscribe("acme", EventFilter()) as sub:
            await emit(other, 7)
            got = await collect(sub, 1)
        assert got[0]["data"] == {"n": 7}
        nats = (await readiness(rt.store, rt.limiter, rt.events.bus))[-1]
        assert nats.ok and nats.detail.startswith("degraded")

"""Webhooks end to end: a real gateway runtime, a real deliverer, real HTTP receivers."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from standardwebhooks import Webhook

from chamberlain.app import Runtime
from chamberlain.demo import shop
from chamberlain.pipeline import Call
from chamberlain.store import (
    audit_entries,
    calls,
    events,
    tenant_transaction,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from chamberlain.tenants import create_tenant
from chamberlain.webhooks import Webhooks, backoff_s
from tests.conftest import issue, make_runtime, new_key, permit_all
from tests.pipeline.test_gateway import REFUND, add_order
from tests.webhooks.receiver import receiver

FAST = {"webhook_allow_private": True, "webhook_backoff_s": 0.02, "webhook_max_attempts": 3, "webhook_timeout_s": 2}


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = make_runtime(shop, tmp_path / "d", **FAST)
    async with runtime.running():
        for tenant in ("acme", "globex"):
            await create_tenant(runtime.store, runtime.keys, tenant, tenant)
            await permit_all(runtime, tenant)
            await add_order(runtime, tenant, total=100_000)
        task = asyncio.create_task(runtime.deliverer.run_forever())
        yield runtime
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def call(rt: Runtime, action: str, arguments: dict[str, Any], token: str) -> Any:
    return await rt.gateway.call(Call(action, arguments, token, "test", idempotency_key=new_key()))


async def register(rt: Runtime, url: str, types: list[str], tenant: str = "acme", token: str | None = None) -> dict[str, Any]:
    out = await call(rt, "webhooks.register", {"url": url, "types": types}, token or await issue(rt, tenant))
    assert out.ok, out.error and out.error.to_problem()
    return dict(out.result)


async def refund(rt: Runtime, tenant: str = "acme") -> Any:
    out = await call(rt, "orders.refund", REFUND, await issue(rt, tenant))
    assert out.ok
    return out


async def settled(rt: Runtime, tenant: str = "acme", n: int = 1, status: str = "delivered") -> list[dict[str, Any]]:
    """Wait until ``n`` deliveries of the tenant reached ``status``."""
    for _ in range(1000):
        found = await rt.webhooks.deliveries(tenant, status=status)
        if len(found) >= n:
            return found
        await asyncio.sleep(0.02)
    raise AssertionError(f"{tenant}: fewer than {n} deliveries became {status}: {await rt.webhooks.deliveries(tenant)}")


async def test_deliveries_are_signed_as_a_standard_webhooks_receiver_checks(rt: Runtime) -> None:
    with receiver() as rx:
        endpoint = await register(rt, rx.url, ["order.*"])
        assert endpoint["secret"].startswith("whsec_")
        assert endpoint["types"] == ["order.placed", "order.refund_reversed", "order.refunded"]
        done = await refund(rt)
        (got,) = await asyncio.to_thread(rx.wait_for, 1)
    event = Webhook(endpoint["secret"]).verify(got.body, got.headers)
    assert event["type"] == "order.refunded" and event["callid"] == done.call.id and event["tenant"] == "acme"
    assert got.headers["webhook-id"] == event["id"] and got.headers["content-type"] == "application/cloudevents+json"
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43).verify(got.body, got.headers)
    (delivery,) = await settled(rt)
    assert delivery["attempts"] == 1 and delivery["event_id"] == event["id"]


async def test_failures_are_retried_with_backoff_then_delivered(rt: Runtime) -> None:
    with receiver(lambda n: 500 if n <= 2 else 200) as rx:
        await register(rt, rx.url, ["order.refunded"])
        await refund(rt)
        got = await asyncio.to_thread(rx.wait_for, 3)
        (delivery,) = await settled(rt)
    assert len({g.headers["webhook-id"] for g in got}) == 1, "every attempt carries the same webhook-id"
    shown = await rt.webhooks.delivery("acme", delivery["id"])
    assert [a["status_code"] for a in shown["attempt_log"]] == [500, 500, 200]
    assert [a["error"] for a in shown["attempt_log"]] == ["HTTP 500", "HTTP 500", None]
    assert shown["status"] == "delivered" and shown["closed_at"] is not None


async def test_the_last_failure_dead_letters_and_replay_sends_it_again(rt: Runtime) -> None:
    healthy = threading.Event()
    with receiver(lambda n: 200 if healthy.is_set() else 503) as rx:
        endpoint = await register(rt, rx.url, ["order.refunded"])
        await refund(rt)
        (dead,) = await settled(rt, status="dead")
        assert dead["attempts"] == 3 and dead["last_status"] == 503
        token = await issue(rt)
        listed = await call(rt, "webhooks.deliveries", {"status": "dead"}, token)
        assert [d["id"] for d in listed.result["deliveries"]] == [dead["id"]]

        healthy.set()
        replayed = await call(rt, "webhooks.replay", {"endpoint_id": endpoint["id"]}, token)
        assert replayed.ok and len(replayed.result["deliveries"]) == 1
        (again,) = await settled(rt)
        got = await asyncio.to_thread(rx.wait_for, 4)
    assert again["replay_of"] == dead["id"] and again["event_id"] == dead["event_id"]
    assert got[-1].body == got[0].body and got[-1].headers["webhook-id"] == got[0].headers["webhook-id"]
    nothing = await call(rt, "webhooks.replay", {}, token)
    assert not nothing.ok and nothing.error.extra["reason"] == "replay-target"


async def test_a_stuck_endpoint_does_not_hold_up_another_tenant(rt: Runtime) -> None:
    with receiver() as stuck, receiver() as fine:
        stuck.gate = threading.Event()
        await register(rt, stuck.url, ["order.refunded"], "acme")
        await register(rt, fine.url, ["order.refunded"], "globex")
        for _ in range(20):  # more than the stuck endpoint's share of the deliverer
            await refund(rt, "acme")
        await refund(rt, "globex")
        (got,) = await asyncio.to_thread(fine.wait_for, 1)
        assert json.loads(got.body)["tenant"] == "globex"
        assert len(stuck.got) == 0, "the acme endpoint has still answered nothing"
        stuck.gate.set()
        await settled(rt, "acme", 20)


async def test_only_the_tenants_own_events_of_the_registered_types_go_out(rt: Runtime) -> None:
    with receiver() as acme_rx, receiver() as globex_rx:
        await register(rt, acme_rx.url, ["policy.changed"], "acme")
        await register(rt, globex_rx.url, ["order.refunded", "policy.changed"], "globex")
        await refund(rt, "acme")  # order.refunded: not registered by acme
        await permit_all(rt, "acme")  # policy.changed in acme
        (got,) = await asyncio.to_thread(acme_rx.wait_for, 1)
        assert json.loads(got.body)["type"] == "policy.changed"
        await settled(rt, "acme")
    assert globex_rx.got == []
    assert await rt.webhooks.deliveries("globex") == []
    globex = await issue(rt, "globex")
    assert (await call(rt, "webhooks.list", {}, globex)).result["endpoints"][0]["url"] == globex_rx.url
    acme_delivery = (await rt.webhooks.deliveries("acme"))[0]["id"]
    other = await call(rt, "webhooks.delivery", {"delivery_id": acme_delivery}, globex)
    assert not other.ok and other.error.extra["reason"] == "delivery-not-found"


async def test_registration_needs_the_event_types_in_the_grant(rt: Runtime) -> None:
    narrow = await issue(rt, actions=["webhooks.*", "events.order.refunded"])
    url = "http://127.0.0.1:9/hook"
    denied = await call(rt, "webhooks.register", {"url": url, "types": ["policy.changed"]}, narrow)
    assert not denied.ok and denied.error.extra["reason"] == "permission-denied"
    unknown = await call(rt, "webhooks.register", {"url": url, "types": ["order.vanished"]}, narrow)
    assert not unknown.ok and unknown.error.extra["reason"] == "unknown-event-type"
    ok = await call(rt, "webhooks.register", {"url": url, "types": ["order.*"]}, narrow)
    assert ok.ok and ok.result["types"] == ["order.refunded"]
    no_rights = await issue(rt, actions=["orders.*"])
    assert (await call(rt, "webhooks.register", {"url": url, "types": ["order.refunded"]}, no_rights)).error


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "webhook-url-invalid"),
        ("http://user:pw@example.com/hook", "webhook-url-invalid"),
        ("https://example.com/hook#x", "webhook-url-invalid"),
        ("http://127.0.0.1:8080/hook", "webhook-target-forbidden"),
        ("http://localhost/hook", "webhook-target-forbidden"),
        ("http://169.254.169.254/latest/meta-data", "webhook-target-forbidden"),
        ("http://10.0.0.7/hook", "webhook-target-forbidden"),
        ("http://[::1]/hook", "webhook-target-forbidden"),
        ("http://[::ffff:127.0.0.1]/hook", "webhook-target-forbidden"),
        ("http://100.64.0.1/hook", "webhook-target-forbidden"),
    ],
)
async def test_the_ssrf_guard_refuses_what_is_not_a_public_http_url(runtime: Runtime, url: str, reason: str) -> None:
    assert runtime.settings.webhook_allow_private is False, "the guard is on by default"
    out = await call(runtime, "webhooks.register", {"url": url, "types": ["order.refunded"]}, await issue(runtime))
    assert not out.ok and out.error.extra["reason"] == reason
    assert await runtime.webhooks.endpoints("acme") == [], "a refused registration leaves nothing behind"
    record = await runtime.store.fetch_one(select(calls).where(calls.c.id == out.call.id))
    assert record is not None and record["outcome"] == "error"


async def test_an_address_that_turns_private_after_registration_is_refused_on_delivery(tmp_path: Path) -> None:
    runtime = make_runtime(shop, tmp_path / "d", **FAST)
    async with runtime.running():
        await create_tenant(runtime.store, runtime.keys, "acme", "acme")
        await permit_all(runtime)
        await add_order(runtime, "acme")
        with receiver() as rx:
            await register(runtime, rx.url, ["order.refunded"])
            runtime.webhooks.allow_private = False  # as if the name now resolved to loopback
            task = asyncio.create_task(runtime.deliverer.run_forever())
            try:
                await refund(runtime)
                (dead,) = await settled(runtime, status="dead")
            finally:
                task.cancel()
        assert rx.got == [] and dead["last_error"].startswith("refused: 127.0.0.1 is a non-public address")


async def test_removing_an_endpoint_cancels_what_waits_for_it(rt: Runtime) -> None:
    with receiver(lambda n: 500) as rx:
        endpoint = await register(rt, rx.url, ["order.refunded"])
        rt.deliverer.base_s = 60.0  # retries far off: the delivery stays pending
        await refund(rt)
        await asyncio.to_thread(rx.wait_for, 1)
        token = await issue(rt)
        removed = await call(rt, "webhooks.remove", {"endpoint_id": endpoint["id"]}, token)
        assert removed.ok and removed.result["cancelled_deliveries"] == 1
        again = await call(rt, "webhooks.remove", {"endpoint_id": endpoint["id"]}, token)
        assert again.error.extra["reason"] == "webhook-not-found"
        assert (await call(rt, "webhooks.list", {}, token)).result["endpoints"] == []
        await refund(rt)
    assert [d["status"] for d in await rt.webhooks.deliveries("acme")] == ["cancelled"]


async def test_a_rolled_back_change_sends_nothing(rt: Runtime) -> None:
    with receiver() as rx:
        await register(rt, rx.url, ["order.refunded"])
        too_much = {**REFUND, "amount": {"amount_minor": 10**9, "currency": "EUR"}}
        assert not (await call(rt, "orders.refund", too_much, await issue(rt))).ok
    assert await rt.store.fetch_all(select(webhook_deliveries)) == []


async def test_the_secret_is_shown_once_and_kept_nowhere_in_clear(rt: Runtime) -> None:
    endpoint = await register(rt, "http://127.0.0.1:9/hook", ["order.refunded"])
    secret = endpoint["secret"]
    token = await issue(rt)
    listed = await call(rt, "webhooks.list", {}, token)
    assert "secret" not in json.dumps(listed.result)
    for table in (audit_entries, calls, events, webhook_endpoints):
        rows = await rt.store.fetch_all(select(table))
        assert secret not in json.dumps([dict(r) for r in rows], default=str)
    (stored,) = await rt.store.fetch_all(select(webhook_endpoints))
    assert rt.webhooks.secret(stored["secret_enc"]) == secret, "sealed with the master key, not lost"


async def test_finished_deliveries_are_pruned_after_retention_pending_ones_never(rt: Runtime) -> None:
    with receiver(lambda n: 200 if n == 1 else 503) as rx:
        await register(rt, rx.url, ["order.refunded"])
        await refund(rt)
        (done,) = await settled(rt)
        await refund(rt)
        (dead,) = await settled(rt, status="dead")
    async with tenant_transaction(rt.store, "acme") as tx:  # one finished long ago; one waits (not yet due)
        await tx.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id == done["id"]).values(closed_at="2000-01-01T00:00:00Z")
        )
        event = {"id": "evt_x", "type": "order.refunded"}
        pending = Webhooks._delivery_row("acme", done["endpoint_id"], event, "{}", "9999-01-01T00:00:00Z")
        await tx.insert(webhook_deliveries, pending)
    assert await rt.webhooks.prune(3600) == 1
    left = {d["id"]: d["status"] for d in await rt.webhooks.deliveries("acme")}
    assert left == {dead["id"]: "dead", pending["id"]: "pending"}
    assert await rt.store.fetch_all(select(webhook_attempts).where(webhook_attempts.c.delivery_id == done["id"])) == []


def test_backoff_doubles_within_jitter_and_caps() -> None:
    for attempt, top in [(1, 5.0), (2, 10.0), (3, 20.0), (12, 60.0)]:
        waits = [backoff_s(attempt, 5.0, 60.0) for _ in range(200)]
        assert all(top / 2 <= w < top for w in waits)
        assert len(set(waits)) > 100, "jittered, not fixed"

"""The write load the fault drills put on a gateway, and what they check afterwards.

Clients refund the demo shop's orders over REST, each refund with an idempotency key of
its own, and retry it with the same key until it is answered: a connection that fails
or a retryable problem is retried, anything else fails the drill. An event stream
follows the tenant's events meanwhile and resumes with ``Last-Event-ID`` whenever it
is cut. Afterwards the database must hold exactly what the answers say, and no more.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

import chamberlain.webhooks._deliverer as deliverer_module
from chamberlain.app import Runtime
from chamberlain.audit._export import export_log
from chamberlain.audit._verify import verify_export
from chamberlain.demo import seed, shop
from chamberlain.demo.shop import refunds
from chamberlain.limits import Rate
from chamberlain.store import audit_entries, calls, events, idempotency_keys, tenant_transaction, webhook_deliveries
from chamberlain.timeutil import utc_now
from tests.conftest import make_runtime
from tests.faults.conftest import TENANT

ORDERS = [f"o_{1000 + n}" for n in range(1, 7)]


@dataclass
class Answer:
    key: str
    order: str
    call_id: str
    result: dict[str, Any]
    replayed: bool
    attempts: int


@dataclass
class Tally:
    attempts: int = 0
    transport_errors: int = 0
    problems: collections.Counter[str] = field(default_factory=collections.Counter)
    """``"<phase>: <status> <code>"`` of every problem a client was answered."""
    in_flight: int = 0
    stream_reconnects: int = 0


class Load:
    def __init__(self, base: str, token: str, why: str) -> None:
        self.base = base
        self.token = token
        self.why = why
        """Named in every failure (the seed of a drill)."""
        self.tally = Tally()
        self.phase = "load"
        self.answers: list[Answer] = []
        self.seen: list[int] = []
        """Sequence numbers the event stream delivered, in the order it did."""
        self._orders = itertools.cycle(ORDERS)
        self._stop = asyncio.Event()
        self._clients: list[asyncio.Task[None]] = []
        self._follower: asyncio.Task[None] | None = None

    # -- one refund -------------------------------------------------------------------

    def body(self, order: str) -> dict[str, Any]:
        return {"order_id": order, "amount": {"amount_minor": 1, "currency": "EUR"}, "reason": "fault drill"}

    async def post(self, client: httpx.AsyncClient, key: str, order: str) -> httpx.Response | None:
        headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key}
        self.tally.attempts += 1
        self.tally.in_flight += 1
        try:
            return await client.post(self.base + "/v1/actions/orders.refund", json=self.body(order), headers=headers)
        except httpx.TransportError:
            self.tally.transport_errors += 1
            return None
        finally:
            self.tally.in_flight -= 1

    async def refund(self, client: httpx.AsyncClient, order: str) -> Answer:
        """One refund, retried with its key until it is answered."""
        key = uuid.uuid4().hex
        for attempt in itertools.count(1):
            resp = await self.post(client, key, order)
            if resp is not None and resp.status_code == 200:
                body = resp.json()
                replayed = resp.headers.get("idempotent-replayed") == "true"
                return Answer(key, order, body["call_id"], body["result"], replayed, attempt)
            if resp is not None:
                problem = resp.json()
                self.tally.problems[f"{self.phase}: {resp.status_code} {problem.get('code')}"] += 1
                assert problem.get("retryable") is True, f"{self.why}: a refusal that is not retryable: {problem}"
            assert attempt < 3000, f"{self.why}: a refund was never answered"
            await asyncio.sleep(0.02)
        raise AssertionError("unreachable")

    # -- clients and the stream ---------------------------------------------------------

    def start(self, clients: int) -> None:
        self._follower = asyncio.create_task(self._follow())
        self._clients = [asyncio.create_task(self._client()) for _ in range(clients)]

    async def _client(self) -> None:
        async with httpx.AsyncClient(timeout=15) as client:
            while not self._stop.is_set():
                self.answers.append(await self.refund(client, next(self._orders)))

    async def answered(self, more: int) -> None:
        """Wait until ``more`` further refunds were answered (a client's failure is raised)."""
        target = len(self.answers) + more
        while len(self.answers) < target:
            self.raise_if_failed()
            await asyncio.sleep(0.005)

    async def until(self, predicate: Any) -> None:
        """Wait until ``predicate()`` holds, while the load runs (a client's failure is raised)."""
        for _ in range(12_000):  # a hang guard (about a minute), not a latency bound
            if predicate():
                return
            self.raise_if_failed()
            await asyncio.sleep(0.005)
        raise AssertionError(f"{self.why}: waited too long")

    def raise_if_failed(self) -> None:
        for task in [*self._clients, *([self._follower] if self._follower else [])]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def stop(self, *, finish: bool = True) -> None:
        """Let every client finish the refund it is on, then stop (or stop them at once:
        a drill that failed)."""
        self._stop.set()
        try:
            if finish:
                await asyncio.gather(*self._clients)
        finally:
            stopped = [*self._clients, *([self._follower] if self._follower and not finish else [])]
            for task in stopped:
                task.cancel()
            await asyncio.gather(*stopped, return_exceptions=True)

    async def _follow(self) -> None:
        """The tenant's event stream from its first event, resumed with ``Last-Event-ID``
        whenever it is cut."""
        last = 0
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client:
            while True:
                headers = {"Authorization": f"Bearer {self.token}", "Last-Event-ID": str(last)}
                try:
                    async with client.stream("GET", self.base + "/v1/events", headers=headers) as resp:
                        if resp.status_code == 200:
                            async for line in resp.aiter_lines():
                                if line.startswith("id: "):
                                    last = int(line[4:])
                                    self.seen.append(last)
                except httpx.TransportError:
                    pass
                self.tally.stream_reconnects += 1
                await asyncio.sleep(0.05)

    async def streamed(self, latest: int) -> None:
        """Wait until the stream delivered event ``latest``, then stop following."""
        await self.until(lambda: bool(self.seen) and self.seen[-1] >= latest)
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)

    # -- afterwards ---------------------------------------------------------------------

    async def replay_all(self) -> None:
        """Every key once more: each must be answered its first outcome, as a replay."""
        limit = asyncio.Semaphore(8)

        async def again(client: httpx.AsyncClient, first: Answer) -> tuple[Answer, httpx.Response | None]:
            async with limit:
                return first, await self.post(client, first.key, first.order)

        async with httpx.AsyncClient(timeout=15) as client:
            done = await asyncio.gather(*(again(client, a) for a in self.answers))
        for first, resp in done:
            assert resp is not None and resp.status_code == 200, f"{self.why}: {resp and resp.text}"
            assert resp.headers.get("idempotent-replayed") == "true", f"{self.why}: a retry ran again: {resp.text}"
            body = resp.json()
            assert (body["call_id"], body["result"]) == (first.call_id, first.result), (
                f"{self.why}: a retry got another outcome than the first answer: {first} then {body}"
            )

    def summary(self) -> dict[str, Any]:
        keys = len({a.key for a in self.answers})
        return {
            "refunds answered": keys,
            "attempts": self.tally.attempts,
            "retries": self.tally.attempts - keys,
            "transport errors": self.tally.transport_errors,
            "problems": dict(self.tally.problems),
            "answers that were replays (the first answer was lost)": sum(a.replayed for a in self.answers),
            "stream reconnects": self.tally.stream_reconnects,
        }

    def check(self, state: dict[str, Any]) -> None:
        """The database holds exactly what the answers say: each refund ran once, every call
        has its entry in a log that verifies, and every event was streamed once, in order."""
        why = self.why
        call_ids = {a.call_id for a in self.answers}
        assert len(call_ids) == len({a.key for a in self.answers}) == len(self.answers), why
        # Exactly once: one refund per key, the one its answer names, and nothing else.
        assert sorted(state["refund_ids"]) == sorted(a.result["id"] for a in self.answers), why
        assert state["keys"] == {a.key: a.call_id for a in self.answers}, why
        assert state["executed"] == call_ids, why
        # The log: no gap, one entry per call record (refusals and replays too), and it verifies
        # (and extends the last checkpoint the gateways wrote outside the database).
        assert state["indexes"] == list(range(len(state["indexes"]))), why
        assert state["log_entries_of_calls"] == state["calls"], f"{why}: a call without its entry, or with two"
        assert state["verify_problems"] == [], why
        # The outbox: one event per refund, dense, each streamed once and in order.
        assert state["refund_events"] == call_ids, why
        assert state["seqs"] == list(range(1, len(state["seqs"]) + 1)), why
        assert self.seen == state["seqs"], f"{why}: the stream skipped, repeated or reordered events"


async def prepare(data: Path, database: str, *, hook: str | None = None) -> str:
    """Seed the demo shop, lift the refund rate (a drill makes hundreds a minute) and, with
    ``hook``, register a webhook for refunds; the support agent's grant."""
    rt = make_runtime(shop, data, database_url=database, webhook_allow_private=True)
    async with rt.running():
        token = (await seed(rt))[0].grant.token
        await rt.gateway.tenant_limits.set(TENANT, "orders.refund", Rate.parse("100000/minute"), None, by="test")
        if hook is not None:
            async with tenant_transaction(rt.store, TENANT) as tx:
                await rt.webhooks.register(tx, TENANT, hook, ["order.refunded"], "operator:test", "fault drill")
        return token


def runtime(data: Path, database: str, **settings: Any) -> Runtime:
    return make_runtime(shop, data, database_url=database, **settings)


async def latest_event(data: Path, database: str) -> int:
    async with runtime(data, database).running() as rt:
        return await rt.events.latest(TENANT)


async def state(data: Path, database: str) -> dict[str, Any]:
    """What the database holds (read once the drill's gateways are gone)."""
    async with runtime(data, database).running() as rt:
        store = rt.store
        refund_ids = [r["id"] for r in await store.fetch_all(select(refunds.c.id).where(refunds.c.tenant_id == TENANT))]
        keys = await store.fetch_all(
            select(idempotency_keys.c.key, idempotency_keys.c.call_id).where(
                idempotency_keys.c.tenant_id == TENANT, idempotency_keys.c.action == "orders.refund"
            )
        )
        records = await store.fetch_all(select(calls.c.id, calls.c.action, calls.c.outcome).where(calls.c.tenant_id == TENANT))
        logged = await store.fetch_all(
            select(audit_entries.c.idx, audit_entries.c.call_id)
            .where(audit_entries.c.tenant_id == TENANT)
            .order_by(audit_entries.c.idx)
        )
        rows = await store.fetch_all(
            select(events.c.seq, events.c.type, events.c.call_id, events.c.id)
            .where(events.c.tenant_id == TENANT)
            .order_by(events.c.seq)
        )
        deliveries = await store.fetch_one(select(func.count().label("n")).where(webhook_deliveries.c.tenant_id == TENANT))
        assert deliveries is not None

        folder = data.parent / "export"
        await export_log(rt.audit, TENANT, folder)
        key = await rt.audit.verifier(TENANT)
        witness = rt.settings.audit_path / TENANT / "checkpoint"
        also = [witness.read_text()] if witness.exists() else []
        report = verify_export(folder, key, (folder / "checkpoint").read_text(), also=also)
    refunded = [r for r in rows if r["type"] == "order.refunded"]
    return {
        "refund_ids": refund_ids,
        "keys": {r["key"]: r["call_id"] for r in keys},
        "executed": {r["id"] for r in records if r["action"] == "orders.refund" and r["outcome"] == "ok"},
        "calls": sorted(r["id"] for r in records),
        "indexes": [r["idx"] for r in logged],
        "log_entries_of_calls": sorted(r["call_id"] for r in logged if r["call_id"] is not None),
        "verify_problems": report.problems,
        "seqs": [r["seq"] for r in rows],
        "refund_events": {r["call_id"] for r in refunded},
        "refund_event_ids": {r["id"] for r in refunded},
        "deliveries": deliveries["n"],
    }


async def drain_webhooks(data: Path, database: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Deliver what is still pending, with the deliverer's clock moved past every lease;
    how many deliveries were pending.

    A delivery claimed by a gateway that was killed mid-attempt stays leased for the
    webhook timeout + 30 s; then any process tries it again. Rather than wait that long,
    a deliverer here runs on a clock that far ahead, and every delivery must end
    delivered: none was lost with the process that held it."""
    ahead = timedelta(seconds=60)
    monkeypatch.setattr(deliverer_module, "utc_now", lambda: utc_now() + ahead)
    async with runtime(data, database, webhook_allow_private=True, webhook_timeout_s=2).running() as rt:
        pending = await _pending(rt)
        task = asyncio.create_task(rt.deliverer.run_forever())
        try:
            for _ in range(3000):  # a hang guard, not a latency bound
                if await _pending(rt) == 0:
                    break
                await asyncio.sleep(0.02)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        left = await rt.store.fetch_all(
            select(webhook_deliveries.c.id, webhook_deliveries.c.status).where(webhook_deliveries.c.status != "delivered")
        )
    assert not left, f"deliveries that never got through: {left}"
    return pending


async def _pending(rt: Runtime) -> int:
    row = await rt.store.fetch_one(select(func.count().label("n")).where(webhook_deliveries.c.status == "pending"))
    return int(row["n"]) if row is not None else 0

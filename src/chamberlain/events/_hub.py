"""The outbox and the fan-out: events go into the database with the change that caused
them, and out to subscribers once it committed.

The outbox table is the source of truth. ``emit`` writes a row in the caller's
transaction (with the next sequence number of the tenant, so a tenant's events have one
order) and tells the bus once the transaction commits. Each process runs one *tail* per
tenant that has subscribers: it follows the tenant's committed events through the
``Bus`` (by default ``OutboxBus``, which reads the rows after the last one it saw, woken
by a commit here or every ``poll_s`` for other processes' commits and after a crash
between a commit and its wake-up), and hands them to every subscriber's bounded queue.
Nothing is lost (a row is read from the table, not from a message) and nothing is
delivered twice to one subscriber (it resumes after the last sequence it was sent).

Fan-out is in batches: what one read found is tested once per distinct filter and
handed to each subscriber as one list, and a stream writes everything waiting in one
go. Fan-outs of a tenant are at least ``batch_s`` apart, so under load a thousand
streams cost a thousand writes per ``batch_s``, not a thousand per event, and latency
stays flat as the rate grows (batches grow instead).

The ``Bus`` is the seam for many processes: see ``_bus`` for the NATS JetStream design
of the production backend (issue #8).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, select

from ..aio import get_within
from ..ids import new_event_id
from ..store import Store, Transaction, events, in_every_database, tenant_lock, tenant_scope
from ..timeutil import utc_now, utc_now_iso
from ._bus import Bus, OutboxBus
from ._envelope import envelope

__all__ = ["Batch", "EventHub", "Subscriber", "emit_if"]

_LAST_SEQ = select(func.max(events.c.seq)).where(events.c.tenant_id == bindparam("tenant"))
"""Built once: building the expression on every emit cost about twice running it."""

log = logging.getLogger("chamberlain.events")


Wants = Callable[[dict[str, Any]], bool]


class Batch(list[dict[str, Any]]):
    """Events handed at once to every subscriber with one filter. They are never changed
    after the fan-out, so a stream may render them once for all in ``memo``."""

    __slots__ = ("memo",)

    def __init__(self, events: list[dict[str, Any]]) -> None:
        super().__init__(events)
        self.memo: dict[str, Any] = {}


@dataclass(eq=False)
class Subscriber:
    """One stream's view: which events it wants, and at most ``limit`` of them waiting.

    A subscriber that falls ``limit`` events behind cannot keep up: it is marked
    ``overflowed`` (and woken, to say so) rather than buffered for without bound."""

    wants: Wants
    limit: int
    queue: asyncio.Queue[list[dict[str, Any]]] = field(default_factory=asyncio.Queue)
    """Batches (shared with the subscriber's filter group), or ``[]`` to wake it."""
    backlog: int = 0
    overflowed: bool = False

    def offer(self, wanted: list[dict[str, Any]]) -> None:
        if self.overflowed:
            return
        if self.backlog + len(wanted) > self.limit:
            self.overflowed = True
            self.queue.put_nowait([])  # wake the stream to end it
            return
        self.backlog += len(wanted)
        self.queue.put_nowait(wanted)

    async def next(self, timeout_s: float) -> list[dict[str, Any]] | None:
        """Every event waiting, in order (empty once overflowed), or None if none came
        within ``timeout_s``."""
        batch = await get_within(self.queue, timeout_s)
        if batch is None:
            return None
        while not self.queue.empty():
            batch = [*batch, *self.queue.get_nowait()]  # batches are shared: never extend one
        self.backlog -= len(batch)
        return batch


@dataclass
class _Tail:
    """A tenant's listeners in this process, grouped by filter, and the task feeding them."""

    groups: dict[Wants, set[Subscriber]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None

    def add(self, subscriber: Subscriber) -> None:
        self.groups.setdefault(subscriber.wants, set()).add(subscriber)

    def discard(self, subscriber: Subscriber) -> bool:
        """Forget ``subscriber``; whether any remain."""
        group = self.groups.get(subscriber.wants, set())
        group.discard(subscriber)
        if not group:
            self.groups.pop(subscriber.wants, None)
        return bool(self.groups)

    def fan_out(self, fresh: list[dict[str, Any]]) -> None:
        for wants, group in list(self.groups.items()):
            wanted = Batch([event for event in fresh if wants(event)])
            if wanted:
                for subscriber in group:
                    subscriber.offer(wanted)


class EventHub:
    def __init__(
        self,
        store: Store,
        known_types: Callable[[], Iterable[str]],
        *,
        poll_s: float = 1.0,
        batch_s: float = 0.0,
        queue_size: int = 1000,
        bus: Bus | None = None,
    ) -> None:
        self.store = store
        self._known_types = known_types
        self.bus: Bus = bus or OutboxBus(self.read, poll_s=poll_s)
        self.batch_s = batch_s
        self.queue_size = queue_size
        self._tails: dict[str, _Tail] = {}
        self.sinks: list[Callable[[Transaction, dict[str, Any]], Awaitable[None]]] = []
        """Called with each event inside its transaction (webhooks write their deliveries)."""

    @property
    def types(self) -> set[str]:
        return set(self._known_types())

    async def emit(
        self,
        tx: Transaction,
        tenant: str,
        type: str,
        data: Any = None,
        *,
        subject: str | None = None,
        traceparent: str | None = None,
        call_id: str | None = None,
    ) -> dict[str, Any]:
        """Write an event in ``tx``; subscribers hear of it once ``tx`` commits."""
        if type not in self.types:
            raise ValueError(f"event type {type!r} is not declared (surface.event) nor one of the gateway's")
        await tx.lock(tenant_lock(tenant))  # sequence numbers are handed out, and committed, in order
        last = (await tx.execute(_LAST_SEQ, {"tenant": tenant})).scalar()
        row = {
            "tenant_id": tenant,
            "seq": int(last or 0) + 1,
            "id": new_event_id(),
            "type": type,
            "subject": subject,
            "time": utc_now_iso(),
            "data": data,
            "traceparent": traceparent,
            "call_id": call_id,
        }
        await tx.insert(events, row)
        event = envelope(row)
        tx.after_commit(lambda: self.bus.committed(tenant, [event]))
        for sink in self.sinks:
            await sink(tx, event)
        return event

    async def read(self, tenant: str, after: int, limit: int = 500) -> list[dict[str, Any]]:
        """Envelopes of ``tenant``'s events after sequence ``after``, in order."""
        rows = await self.store.fetch_all(
            select(events).where(events.c.tenant_id == tenant, events.c.seq > after).order_by(events.c.seq).limit(limit)
        )
        return [envelope(dict(r)) for r in rows]

    async def oldest(self, tenant: str) -> int | None:
        """The oldest sequence still kept (older ones were pruned), or None if none is."""
        with tenant_scope(tenant):  # an aggregate: asked of the tenant's database alone
            row = await self.store.fetch_one(select(func.min(events.c.seq).label("s")).where(events.c.tenant_id == tenant))
        return None if row is None or row["s"] is None else int(row["s"])

    async def latest(self, tenant: str) -> int:
        with tenant_scope(tenant):
            row = await self.store.fetch_one(select(func.max(events.c.seq).label("s")).where(events.c.tenant_id == tenant))
        return 0 if row is None or row["s"] is None else int(row["s"])

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant: str, wants: Wants) -> AsyncIterator[Subscriber]:
        """A subscriber to ``tenant``'s live events from now on (replay is the stream's job).
        Streams that want the same events should pass equal filters (``EventFilter``)."""
        tail = self._tails.get(tenant)
        if tail is None:
            latest = await self.latest(tenant)
            tail = self._tails.get(tenant)  # another subscriber may have started it meanwhile
        if tail is None:
            tail = self._tails[tenant] = _Tail()
            tail.task = asyncio.create_task(self._follow(tenant, tail, latest), name=f"events:{tenant}")
        subscriber = Subscriber(wants, self.queue_size)
        tail.add(subscriber)
        try:
            yield subscriber
        finally:
            if not tail.discard(subscriber) and self._tails.get(tenant) is tail:
                del self._tails[tenant]
                if tail.task is not None:
                    tail.task.cancel()

    async def _follow(self, tenant: str, tail: _Tail, after: int) -> None:
        async with contextlib.aclosing(self.bus.follow(tenant, after)) as batches:
            async for fresh in batches:
                tail.fan_out(fresh)
                await asyncio.sleep(self.batch_s)  # what commits meanwhile goes out together

    async def prune(self, retention_s: float) -> int:
        """Forget events older than the retention window (they can no longer be replayed)."""
        cutoff = (utc_now() - timedelta(seconds=retention_s)).isoformat(timespec="microseconds")
        latest = events.alias("latest")
        newest = select(func.max(latest.c.seq)).where(latest.c.tenant_id == events.c.tenant_id).scalar_subquery()

        async def forget(tx: Transaction) -> int:
            # Each tenant's newest event stays, so its sequence never starts over.
            result = await tx.execute(delete(events).where(events.c.time < cutoff, events.c.seq < newest))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

        return await in_every_database(self.store, forget)


async def emit_if(hub: EventHub | None, tx: Transaction, tenant: str, type: str, data: Any = None, **kw: Any) -> None:
    """Emit through ``hub`` when the gateway publishes events (services work without one)."""
    if hub is not None:
        await hub.emit(tx, tenant, type, data, **kw)

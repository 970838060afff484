"""The outbox and the fan-out: events go into the database with the change that caused
them, and out to subscribers once it committed.

The outbox table is the source of truth. ``emit`` writes a row in the caller's
transaction (with the next sequence number of the tenant, so a tenant's events have one
order) and asks to be woken after the commit. Each process runs one *tail* per tenant
that has subscribers: woken by a commit here, or every ``poll_s`` for commits made by
other processes (and after a crash between a commit and its wake-up), it reads the rows
after the last one it saw, once, and hands them to every subscriber's bounded queue.
Nothing is lost (a row is read from the table, not from a message) and nothing is
delivered twice to one subscriber (it resumes after the last sequence it was sent).

This is the ``Bus`` seam: the production backend (issue #8) replaces the tail's
wake-up-and-read with a NATS JetStream consumer fed by a relay from this same outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select

from ..aio import wait_set
from ..ids import new_event_id
from ..store import Store, Transaction, events
from ..timeutil import utc_now, utc_now_iso
from ._envelope import envelope

__all__ = ["EventHub", "Subscriber", "emit_if"]

log = logging.getLogger("chamberlain.events")


@dataclass(eq=False)
class Subscriber:
    """One stream's view: which events it wants, and the bounded queue they wait in."""

    wants: Callable[[dict[str, Any]], bool]
    queue: asyncio.Queue[dict[str, Any]]
    overflowed: bool = False


@dataclass
class _Tail:
    last_seq: int
    subscribers: set[Subscriber] = field(default_factory=set)
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class EventHub:
    def __init__(
        self, store: Store, known_types: Callable[[], Iterable[str]], *, poll_s: float = 1.0, queue_size: int = 1000
    ) -> None:
        self.store = store
        self._known_types = known_types
        self.poll_s = poll_s
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
        last = (await tx.execute(select(func.max(events.c.seq)).where(events.c.tenant_id == tenant))).scalar()
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
        tx.after_commit(lambda: self.wake(tenant))
        event = envelope(row)
        for sink in self.sinks:
            await sink(tx, event)
        return event

    def wake(self, tenant: str) -> None:
        tail = self._tails.get(tenant)
        if tail is not None:
            tail.woken.set()

    async def read(self, tenant: str, after: int, limit: int = 500) -> list[dict[str, Any]]:
        """Envelopes of ``tenant``'s events after sequence ``after``, in order."""
        rows = await self.store.fetch_all(
            select(events).where(events.c.tenant_id == tenant, events.c.seq > after).order_by(events.c.seq).limit(limit)
        )
        return [envelope(dict(r)) for r in rows]

    async def oldest(self, tenant: str) -> int | None:
        """The oldest sequence still kept (older ones were pruned), or None if none is."""
        row = await self.store.fetch_one(select(func.min(events.c.seq).label("s")).where(events.c.tenant_id == tenant))
        return None if row is None or row["s"] is None else int(row["s"])

    async def latest(self, tenant: str) -> int:
        row = await self.store.fetch_one(select(func.max(events.c.seq).label("s")).where(events.c.tenant_id == tenant))
        return 0 if row is None or row["s"] is None else int(row["s"])

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant: str, wants: Callable[[dict[str, Any]], bool]) -> AsyncIterator[Subscriber]:
        """A subscriber to ``tenant``'s live events from now on (replay is the stream's job)."""
        tail = self._tails.get(tenant)
        if tail is None:
            latest = await self.latest(tenant)
            tail = self._tails.get(tenant)  # another subscriber may have started it meanwhile
        if tail is None:
            tail = self._tails[tenant] = _Tail(latest)
            tail.task = asyncio.create_task(self._follow(tenant, tail), name=f"events:{tenant}")
        subscriber = Subscriber(wants, asyncio.Queue(self.queue_size))
        tail.subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            tail.subscribers.discard(subscriber)
            if not tail.subscribers and self._tails.get(tenant) is tail:
                del self._tails[tenant]
                if tail.task is not None:
                    tail.task.cancel()

    async def _follow(self, tenant: str, tail: _Tail) -> None:
        while True:
            await wait_set(tail.woken, self.poll_s)
            tail.woken.clear()
            try:
                fresh = await self.read(tenant, tail.last_seq)
            except Exception:
                log.exception("reading %s's events failed; retrying", tenant)
                continue
            for event in fresh:
                tail.last_seq = event["sequence"]
                for subscriber in list(tail.subscribers):
                    _offer(subscriber, event)
            if len(fresh) == 500:
                tail.woken.set()  # more are waiting

    async def prune(self, retention_s: float) -> int:
        """Forget events older than the retention window (they can no longer be replayed)."""
        cutoff = (utc_now() - timedelta(seconds=retention_s)).isoformat(timespec="microseconds")
        latest = events.alias("latest")
        newest = select(func.max(latest.c.seq)).where(latest.c.tenant_id == events.c.tenant_id).scalar_subquery()
        async with self.store.transaction() as tx:
            # Each tenant's newest event stays, so its sequence never starts over.
            result = await tx.execute(delete(events).where(events.c.time < cutoff, events.c.seq < newest))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _offer(subscriber: Subscriber, event: dict[str, Any]) -> None:
    """Queue ``event`` if the subscriber wants it; a full queue means the subscriber
    cannot keep up: it is cut off rather than buffered without bound."""
    if subscriber.overflowed or not subscriber.wants(event):
        return
    try:
        subscriber.queue.put_nowait(event)
    except asyncio.QueueFull:
        subscriber.overflowed = True


async def emit_if(hub: EventHub | None, tx: Transaction, tenant: str, type: str, data: Any = None, **kw: Any) -> None:
    """Emit through ``hub`` when the gateway publishes events (services work without one)."""
    if hub is not None:
        await hub.emit(tx, tenant, type, data, **kw)

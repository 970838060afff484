"""The Bus: how a process learns that a tenant's events committed, and gets them in order.

The hub asks a bus for one thing per tenant it has listeners for: the tenant's
committed events after a sequence number, in batches, in order, for as long as it
listens. Where they come from is the bus's business:

* ``OutboxBus``, the embedded default, reads them from the outbox table, woken by this
  process's commits and, for other processes' commits, every ``poll_s``.
* ``NatsBus`` (``_nats.py``), for many processes, has each process publish the events
  it committed to a per-tenant JetStream subject (event id as ``Nats-Msg-Id``, so a
  publish made twice is stored once) and consumes that subject, reading the outbox to
  fill any gap in the sequence. The outbox stays the source of truth, so a lost message
  delays an event; it cannot drop one.

Everything past the bus (fan-out, SSE, MCP, webhooks) is the same either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from ..aio import raise_if_cancelled, wait_set

__all__ = ["Bus", "OutboxBus"]

log = logging.getLogger("chamberlain.events")

Read = Callable[[str, int, int], Awaitable[list[dict[str, Any]]]]
"""``read(tenant, after, limit)``: envelopes of committed events after ``after``, in order."""


class Bus(Protocol):
    def committed(self, tenant: str, events: Sequence[dict[str, Any]] = ()) -> None:
        """A transaction of this process that wrote ``tenant``'s ``events`` has committed."""
        ...

    def follow(self, tenant: str, after: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        """``tenant``'s committed events after sequence ``after``: non-empty batches, in
        order, each event once, until the caller stops iterating."""
        ...


class OutboxBus:
    """Reads the outbox: exact and simple, and fine for one process (or a few, at the
    cost of ``poll_s`` of latency for events another process committed)."""

    def __init__(self, read: Read, *, poll_s: float, page: int = 500) -> None:
        self.read = read
        self.poll_s = poll_s
        self.page = page
        self._woken: dict[str, set[asyncio.Event]] = {}

    def committed(self, tenant: str, events: Sequence[dict[str, Any]] = ()) -> None:
        for woken in self._woken.get(tenant, ()):
            woken.set()

    async def follow(self, tenant: str, after: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        woken = asyncio.Event()
        self._woken.setdefault(tenant, set()).add(woken)
        try:
            while True:
                await wait_set(woken, self.poll_s)
                woken.clear()
                try:
                    fresh = await self.read(tenant, after, self.page)
                except Exception:
                    raise_if_cancelled()
                    log.exception("reading %s's events failed; retrying", tenant)
                    continue
                if len(fresh) == self.page:
                    woken.set()  # more are waiting
                if fresh:
                    after = fresh[-1]["sequence"]
                    yield fresh
        finally:
            followers = self._woken.get(tenant, set())
            followers.discard(woken)
            if not followers:
                self._woken.pop(tenant, None)

"""The NATS JetStream bus: committed events pushed between gateway processes.

Each process publishes the events its own transactions committed to the tenant's
subject (``chamberlain.events.<tenant>``), with the event id as ``Nats-Msg-Id`` so a
publish repeated within the stream's duplicate window is stored once. Each process
that has listeners for a tenant consumes that subject from the moment it starts
following, after catching up from the outbox.

The outbox stays the source of truth. A follower yields sequence numbers in order, each
once: a message it has seen is skipped, and one that skips ahead (a publish lost when a
process died between its commit and its publish, or a process without NATS) sends it
to the outbox for what lies between. If nothing arrives for ``fallback_s`` it reads the
outbox anyway, so the last events before a silence are never stranded. NATS speeds
events up; it cannot lose one.

Outages: the client reconnects by itself a few times; once it gives up, the bus makes a
new connection every ``retry_s`` until NATS answers. A follower whose subscription
belonged to a connection that is gone subscribes again on the new one as soon as it
is up, and reads the outbox for what was committed meanwhile, so a NATS outage costs
pushed delivery only while it lasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import nats
import orjson
from nats.aio.client import Client
from nats.js import api
from nats.js.client import JetStreamContext

from ..aio import raise_if_cancelled, wait_set
from ._bus import Read

log = logging.getLogger("chamberlain.events")


def stream_name(prefix: str) -> str:
    """``chamberlain.events`` → ``CHAMBERLAIN_EVENTS``: one stream per prefix."""
    return prefix.replace(".", "_").replace("-", "_").upper()


class NatsBus:
    def __init__(
        self,
        url: str,
        read: Read,
        *,
        prefix: str = "chamberlain.events",
        stream: str | None = None,
        fallback_s: float = 5.0,
        retry_s: float = 2.0,
        retention_s: float = 86_400,
        page: int = 500,
    ) -> None:
        self.url = url
        self.read = read
        self.prefix = prefix
        self.stream = stream or stream_name(prefix)
        self.fallback_s = fallback_s
        self.retry_s = retry_s
        """Between attempts to reach NATS again once the client gave up (not ``fallback_s``:
        a gateway that polls the outbox rarely must not also reconnect rarely)."""
        self.retention_s = retention_s
        self.page = page
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._retrying: asyncio.Task[None] | None = None
        self._closing = False
        self._generation = 0
        """Counts connections made: a subscription made on an older one is dead."""
        self._renewed: asyncio.Event | None = None
        """Set (and replaced) each time a new connection is up: wakes followers waiting for one."""

    def subject(self, tenant: str) -> str:
        return f"{self.prefix}.{tenant}"

    async def connect(self, *, wait: bool = False) -> None:
        """Connect, and make sure the stream exists. If NATS does not answer, follow the
        outbox meanwhile and keep trying in the background (``wait=True``: raise instead)."""
        try:
            await self._connect_once()
        except Exception as err:
            if wait:
                raise
            log.warning("NATS at %s unreachable (%s); events are read from the outbox until it answers", self.url, err)
            self._reconnect_later()

    async def _connect_once(self) -> None:
        # A few attempts per connection; once the client gives up (closed_cb), we start over.
        self._nc = await nats.connect(
            self.url,
            connect_timeout=2,
            max_reconnect_attempts=5,
            reconnect_time_wait=1,
            name="chamberlain",
            error_cb=self._on_error,
            closed_cb=self._on_closed,
        )
        self._js = self._nc.jetstream()
        config = api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=api.StorageType.FILE,
            max_age=self.retention_s,
            duplicate_window=120,
        )
        try:
            await self._js.add_stream(config)
        except nats.js.errors.BadRequestError:
            await self._js.update_stream(config)  # it exists, perhaps with older settings
        self._generation += 1
        renewed, self._renewed = self._renewed, asyncio.Event()
        if renewed is not None:
            renewed.set()

    async def _on_error(self, err: Exception) -> None:
        log.warning("NATS: %s", err)

    async def _on_closed(self) -> None:
        if not self._closing:
            self._js = None
            self._reconnect_later()

    def _reconnect_later(self) -> None:
        if self._retrying is None or self._retrying.done():
            self._retrying = asyncio.get_running_loop().create_task(self._keep_trying())

    async def _keep_trying(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.retry_s)
            try:
                await self._connect_once()
                log.info("NATS at %s answers again; events are pushed again", self.url)
                return
            except Exception as err:
                log.debug("NATS still unreachable: %s", err)

    async def close(self) -> None:
        self._closing = True
        if self._retrying is not None:
            self._retrying.cancel()
        for task in list(self._publishing):
            await asyncio.gather(task, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()
        self._nc = self._js = None

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def committed(self, tenant: str, events: Sequence[dict[str, Any]] = ()) -> None:
        """Publish what this process committed, without holding up the committer."""
        if not events or self._js is None:
            return
        task = asyncio.get_running_loop().create_task(self._publish(tenant, list(events), self._js))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, tenant: str, events: list[dict[str, Any]], js: JetStreamContext | None = None) -> None:
        # ``js`` as it was at the commit: the connection may have been lost (``self._js`` None) since.
        js = js or self._js
        if js is None:
            return
        for event in events:
            try:
                await js.publish(self.subject(tenant), orjson.dumps(event), timeout=2, headers={"Nats-Msg-Id": event["id"]})
            except Exception as err:  # followers will find it in the outbox
                log.warning("publishing event %s of %s to NATS failed: %s", event["id"], tenant, err)

    async def follow(self, tenant: str, after: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        subscription, generation = await self._subscribe(tenant)
        try:
            async for batch in self._outbox(tenant, after):  # what committed before we listened
                after = batch[-1]["sequence"]
                yield batch
            while True:
                if self._js is not None and (subscription is None or generation != self._generation):
                    # The connection it listened on is gone (or it never had one) and one is
                    # up now: listen again, then read what committed while no one listened.
                    await self._unsubscribe(tenant, subscription)
                    subscription, generation = await self._subscribe(tenant)
                    if subscription is not None:
                        async for batch in self._outbox(tenant, after):
                            after = batch[-1]["sequence"]
                            yield batch
                event = await self._next(subscription, generation)
                if event is not None and event["sequence"] <= after:
                    continue  # seen already
                if event is not None and event["sequence"] == after + 1:
                    after = event["sequence"]
                    yield [event]
                    continue
                # A gap, or silence: the outbox has whatever was missed.
                async for batch in self._outbox(tenant, after):
                    after = batch[-1]["sequence"]
                    yield batch
        finally:
            await self._unsubscribe(tenant, subscription)

    async def _subscribe(self, tenant: str) -> tuple[Any, int]:
        """A subscription to the tenant's subject (None if there is no connection, or it
        failed), and the connection it was made on."""
        generation = self._generation
        if self._js is None:
            return None, generation
        try:
            subscription = await self._js.subscribe(
                self.subject(tenant), ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW
            )
        except Exception as err:
            log.warning("subscribing to %s failed, following the outbox meanwhile: %s", self.subject(tenant), err)
            return None, generation
        return subscription, generation

    async def _unsubscribe(self, tenant: str, subscription: Any) -> None:
        if subscription is None:
            return
        try:
            await subscription.unsubscribe()
        except Exception:  # the connection may be gone already
            log.debug("unsubscribing from %s failed", self.subject(tenant))

    async def _next(self, subscription: Any, generation: int) -> dict[str, Any] | None:
        """The next event pushed, or None after ``fallback_s`` without one (sooner if a
        connection newer than ``generation`` comes up, for the follower to listen on it)."""
        if subscription is None:
            await self._reconnection(generation)
            return None
        try:
            message = await subscription.next_msg(timeout=self.fallback_s)
        except (TimeoutError, nats.errors.TimeoutError):
            return None
        except Exception as err:
            raise_if_cancelled()
            log.warning("reading from NATS failed: %s", err)
            await self._reconnection(generation)
            return None
        event: dict[str, Any] = orjson.loads(message.data)
        return event

    async def _reconnection(self, generation: int) -> None:
        """Wait, at most ``fallback_s``, for a connection newer than ``generation``."""
        if self._generation != generation and self._js is not None:
            return  # one is up already
        if self._renewed is None:
            self._renewed = asyncio.Event()
        await wait_set(self._renewed, self.fallback_s)

    async def _outbox(self, tenant: str, after: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        while True:
            try:
                fresh = await self.read(tenant, after, self.page)
            except Exception:
                raise_if_cancelled()
                log.exception("reading %s's events failed; retrying", tenant)
                return
            if not fresh:
                return
            after = fresh[-1]["sequence"]
            yield fresh
            if len(fresh) < self.page:
                return

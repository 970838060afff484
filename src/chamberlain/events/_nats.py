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

from ..aio import raise_if_cancelled
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
        retention_s: float = 86_400,
        page: int = 500,
    ) -> None:
        self.url = url
        self.read = read
        self.prefix = prefix
        self.stream = stream or stream_name(prefix)
        self.fallback_s = fallback_s
        self.retention_s = retention_s
        self.page = page
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._retrying: asyncio.Task[None] | None = None
        self._closing = False

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
            await asyncio.sleep(self.fallback_s)
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
        task = asyncio.get_running_loop().create_task(self._publish(tenant, list(events)))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    async def _publish(self, tenant: str, events: list[dict[str, Any]]) -> None:
        assert self._js is not None
        for event in events:
            try:
                await self._js.publish(self.subject(tenant), orjson.dumps(event), timeout=2, headers={"Nats-Msg-Id": event["id"]})
            except Exception as err:  # followers will find it in the outbox
                log.warning("publishing event %s of %s to NATS failed: %s", event["id"], tenant, err)

    async def follow(self, tenant: str, after: int) -> AsyncGenerator[list[dict[str, Any]], None]:
        subscription = await self._subscribe(tenant)
        try:
            async for batch in self._outbox(tenant, after):  # what committed before we listened
                after = batch[-1]["sequence"]
                yield batch
            while True:
                event = await self._next(subscription)
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
            if subscription is not None:
                try:
                    await subscription.unsubscribe()
                except Exception:  # the connection may be gone already
                    log.debug("unsubscribing from %s failed", self.subject(tenant))

    async def _subscribe(self, tenant: str) -> Any:
        if self._js is None:
            return None
        try:
            return await self._js.subscribe(self.subject(tenant), ordered_consumer=True, deliver_policy=api.DeliverPolicy.NEW)
        except Exception as err:
            log.warning("subscribing to %s failed, following the outbox only: %s", self.subject(tenant), err)
            return None

    async def _next(self, subscription: Any) -> dict[str, Any] | None:
        """The next event pushed, or None after ``fallback_s`` without one."""
        if subscription is None:
            await asyncio.sleep(self.fallback_s)
            return None
        try:
            message = await subscription.next_msg(timeout=self.fallback_s)
        except (TimeoutError, nats.errors.TimeoutError):
            return None
        except Exception as err:
            raise_if_cancelled()
            log.warning("reading from NATS failed: %s", err)
            await asyncio.sleep(self.fallback_s)
            return None
        event: dict[str, Any] = orjson.loads(message.data)
        return event

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

"""Dropping clients that take too long to send a request (slowloris).

An asyncio server is not *blocked* by a slow client, but every connection holds a socket
and a little memory until its request is in, and a slowloris attack opens many
connections and finishes none. uvicorn closes a keep-alive connection that stays idle,
but not one that sends its request line and headers a byte at a time, nor a request
whose body never completes. Two guards, each bounded by ``request_read_timeout_s``:

* ``head_timeout_protocol``: uvicorn's h11 protocol, which also closes a connection whose
  request head (request line and headers) has not arrived within the timeout of the
  connection opening or of the previous response ending. ``chamberlain serve`` uses it.
* ``BodyDeadline``: ASGI middleware (in every app ``create_app`` builds) that reads the
  body, up to the size limit, before the app sees the request; one that has not arrived
  within the timeout is answered ``408 request-timeout`` (recorded like any refusal) and
  the connection is closed. A body over the size limit is handed on as soon as the limit
  is passed, so the surfaces refuse it (413) as they always have.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .errors import RequestTimeout
from .surfaces.rest._problems import problem_response

__all__ = ["BodyDeadline", "head_timeout_protocol"]

log = logging.getLogger("chamberlain.http")

OnTimeout = Callable[[Scope, RequestTimeout], Awaitable[str | None]]
"""Told of a request whose body came too slowly; returns the id of the call record it made."""


class BodyDeadline:
    def __init__(self, app: ASGIApp, *, timeout_s: float, max_bytes: int, on_timeout: OnTimeout | None = None) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.on_timeout = on_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.app(scope, receive, send)  # refused from the header alone, nothing is read
            return
        queued: deque[Message] = deque()
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._read(receive, queued)
        except TimeoutError:
            await self._refuse(scope, receive, send)
            return

        async def replay() -> Message:
            return queued.popleft() if queued else await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, queued: deque[Message]) -> None:
        """The body as one message (complete, or just past the size limit), then whatever
        came instead of more of it (a disconnect)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left mid-body: the app hears that too
                queued.append({"type": "http.request", "body": b"".join(chunks), "more_body": True})
                queued.append(message)
                return
            body = message.get("body", b"")
            chunks.append(body)
            size += len(body)
            more = bool(message.get("more_body", False))
            if not more or size > self.max_bytes:
                queued.append({"type": "http.request", "body": b"".join(chunks), "more_body": more})
                return

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client") or ("?", 0)
        path = str(scope.get("path", ""))[:200]
        log.warning("%s:%s sent the body of %s %s too slowly; answered 408", client[0], client[1], scope["method"], path)
        error = RequestTimeout(f"the request body did not arrive within {self.timeout_s:g}s", timeout_s=self.timeout_s)
        call_id = await self.on_timeout(scope, error) if self.on_timeout is not None else None
        more = {"call_id": call_id} if call_id else {}
        await problem_response(error, headers={"Connection": "close"}, **more)(scope, receive, send)


class _HeadTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose next request head is overdue."""

    head_timeout_s = 30.0
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._expect_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._expect_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _expect_head(self) -> None:
        """From now, a new request must begin within the timeout: ``cycle`` is the request
        (if any) this connection was on, so a new one shows as a different cycle."""
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_overdue, self.cycle)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self, cycle: Any) -> None:
        self._head_timer = None
        if self.cycle is not cycle or (cycle is not None and not cycle.response_complete):
            return  # a request came in (or is still being answered): its body has BodyDeadline
        if not self.transport.is_closing():
            client = self.client or ("?", 0)
            log.warning("%s:%s did not send a request head within %gs; connection closed", *client, self.head_timeout_s)
            self.transport.close()


def head_timeout_protocol(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's head (``uvicorn.Config(http=...)``)."""
    return type("HeadTimeoutH11Protocol", (_HeadTimeoutProtocol,), {"head_timeout_s": timeout_s})

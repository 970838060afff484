"""A TCP fault proxy: a forwarder in front of a real service (PostgreSQL, Redis, NATS)
that can cut every connection, refuse new ones, or stall, and then recover.

The real servers are shared with other tests and are never stopped: a gateway is
pointed at the proxy's port instead, and the proxy plays the outage.

* ``drop()``: every open connection is reset (a server restart, a failover); new ones
  are accepted and forwarded as before.
* ``refuse()``: drop, and every new connection is reset at once, until ``recover()``
  (the server is down).
* ``stall()``: connections stay open and new ones are accepted, but no byte moves either
  way, until ``recover()`` (a hung server, a partition that drops packets silently).
  What was sent meanwhile is delivered on recovery.

It runs its own event loop in a thread, so it keeps forwarding whatever the test's own
loop is doing, and each control method returns once the proxy is in the new state.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on with a zero timeout: close() sends a RST, as a crashed peer's kernel would."""


@dataclass
class Counts:
    accepted: int = 0
    reset: int = 0
    """Connections reset by ``drop``/``refuse`` (open ones and refused new ones)."""


@dataclass(eq=False)
class _Pair:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode = "forward"
        self.counts = Counts()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"fault-proxy:{upstream_port}", daemon=True)
        self._server: asyncio.Server | None = None
        self._pairs: set[_Pair] = set()
        self._flowing: asyncio.Event | None = None

    # -- control, from any thread -------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._start())
        return self

    def close(self) -> None:
        self._run(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, scheme: str, rest: str = "") -> str:
        """``scheme://127.0.0.1:<proxy port><rest>``, e.g. ``url("redis", "/0")``."""
        return f"{scheme}://127.0.0.1:{self.port}{rest}"

    def drop(self) -> None:
        """Reset every open connection; keep accepting new ones."""
        self._run(self._set("forward", reset=True))

    def refuse(self) -> None:
        """Reset every open connection and every new one, until ``recover``."""
        self._run(self._set("refuse", reset=True))

    def stall(self) -> None:
        """Hold every byte, both ways, on open and new connections, until ``recover``."""
        self._run(self._set("stall", reset=False))

    def recover(self) -> None:
        self._run(self._set("forward", reset=False))

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """The service is down for the block's duration (``refuse``), then back."""
        self.refuse()
        try:
            yield
        finally:
            self.recover()

    @contextlib.contextmanager
    def stalled(self) -> Iterator[None]:
        self.stall()
        try:
            yield
        finally:
            self.recover()

    @property
    def open_connections(self) -> int:
        return len(self._pairs)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # -- the proxy's own loop -----------------------------------------------------------

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pair in list(self._pairs):
            self._reset(pair)

    async def _set(self, mode: str, *, reset: bool) -> None:
        assert self._flowing is not None
        self.mode = mode
        if mode == "stall":
            self._flowing.clear()
        else:
            self._flowing.set()
        if reset:
            for pair in list(self._pairs):
                self._reset(pair)

    def _reset(self, pair: _Pair) -> None:
        self._pairs.discard(pair)
        for writer in (pair.client, pair.upstream):
            _abort(writer)
        for task in pair.tasks:
            task.cancel()
        self.counts.reset += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts.accepted += 1
        if self.mode == "refuse":
            _abort(writer)
            self.counts.reset += 1
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _abort(writer)
            return
        if self.mode == "refuse":  # refused while we connected
            _abort(writer)
            _abort(up_writer)
            self.counts.reset += 1
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        pair.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, pair)),
            asyncio.create_task(self._pump(up_reader, writer, pair)),
        ]
        await asyncio.gather(*pair.tasks, return_exceptions=True)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, pair: _Pair) -> None:
        assert self._flowing is not None
        try:
            while True:
                await self._flowing.wait()
                data = await source.read(65536)
                if not data:
                    break
                await self._flowing.wait()  # read just as a stall began: held with the rest
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side ended: end the other too, as a real connection would.
            if pair in self._pairs:
                self._pairs.discard(pair)
                for writer in (pair.client, pair.upstream):
                    with contextlib.suppress(Exception):
                        writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()

"""A real HTTP receiver on loopback that records what it gets and answers as told."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    answer: Callable[[int], int] = lambda n: 204
    """Status to answer the n-th request (1-based) with."""
    got: list[Received] = field(default_factory=list)
    gate: threading.Event | None = None
    """When set, requests wait for it before answering (a stuck endpoint)."""
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.got) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the receiver got {len(self.got)} of {n} requests")
                self.arrived.wait(left)
            return list(self.got)


@contextmanager
def receiver(answer: Callable[[int], int] = lambda n: 204) -> Iterator[Receiver]:
    state = Receiver(url="", answer=answer)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if state.gate is not None:
                state.gate.wait(30)
            with state.arrived:
                state.got.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = state.answer(len(state.got))
                state.arrived.notify_all()
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.gate is not None:
            state.gate.set()
        server.shutdown()
        server.server_close()

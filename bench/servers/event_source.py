"""A server that commits events at a steady rate, for the SSE fan-out benchmark.

    python bench/servers/event_source.py governed PORT DATA_DIR
    python bench/servers/event_source.py bare PORT DATA_DIR

``governed`` is Chamberlain: each event is committed to the SQLite outbox in its own
transaction (as ``ctx.emit`` does inside a call) and reaches ``GET /v1/events``
through the hub, with the grant checked, filters applied and heartbeats running. A
grant for ``events.*`` is written to DATA_DIR/grant.txt.

``bare`` is the floor the benchmark compares against: the same frames, the same
uvicorn, served from memory by a plain Starlette route, with no database, grant or
filter. Both batch whatever is waiting for a connection into one write.

``POST /bench/emit?rate=R&seconds=S`` starts the events; the benchmark client calls
it once its streams are open. ``GET /bench/times`` then answers, per sequence number,
when the event was started and when its transaction committed (wall clock).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from chamberlain import Surface
from chamberlain.app import Runtime, create_app
from chamberlain.config import Settings
from chamberlain.gc_tuning import tune_gc
from chamberlain.tenants import create_tenant

PAD = "x" * 200  # an event about the size of an order.refunded one


async def paced(rate: float, seconds: float, emit: Callable[[int], Awaitable[None]]) -> None:
    """Start ``emit`` ``rate`` times a second on a fixed schedule (late ones go at once),
    each in its own task, as concurrent calls would commit their events."""
    start = time.perf_counter()
    running: set[asyncio.Task[None]] = set()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(emit(n))
        running.add(task)
        task.add_done_callback(running.discard)
    await asyncio.gather(*running)


Times = dict[int, list[float]]
"""sequence -> [started, committed]"""


def bench_routes(emit: Callable[[int], Awaitable[None]], times: Times) -> list[Route]:
    tasks: set[asyncio.Task[None]] = set()

    async def start(request: Request) -> Response:
        rate, seconds = float(request.query_params["rate"]), float(request.query_params["seconds"])
        task = asyncio.create_task(paced(rate, seconds, emit))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return PlainTextResponse("started")

    async def timing(request: Request) -> Response:
        return Response(orjson.dumps(times, option=orjson.OPT_NON_STR_KEYS), media_type="application/json")

    return [Route("/bench/emit", start, methods=["POST"]), Route("/bench/times", timing)]


async def governed(port: int, data_dir: Path) -> Starlette:
    surface = Surface("bench")
    surface.event("bench.tick", "A benchmark event.")
    # CHAMBERLAIN_* environment variables apply, as they do to ``chamberlain serve``.
    runtime = Runtime(surface, Settings.from_env(data_dir=data_dir, port=port))
    await runtime.open()
    await create_tenant(runtime.store, runtime.keys, "bench", "Bench")
    grant = await runtime.authority.issue("bench", "agent:bench", ["events.*"], timedelta(hours=2))
    (data_dir / "grant.txt").write_text(grant.token)

    times: Times = {}

    async def emit(n: int) -> None:
        started = time.time()
        async with runtime.store.transaction() as tx:
            event = await runtime.events.emit(tx, "bench", "bench.tick", {"n": n, "pad": PAD}, subject=f"ticks/{n % 10}")
            clock = times[event["sequence"]] = [started]
            tx.after_commit(lambda: clock.append(time.time()))

    app = create_app(runtime)
    app.router.routes[:0] = bench_routes(emit, times)
    return app


def bare(data_dir: Path) -> Starlette:
    (data_dir / "grant.txt").write_text("none")
    queues: set[asyncio.Queue[bytes]] = set()
    times: Times = {}
    seq = 0

    async def emit(n: int) -> None:
        nonlocal seq
        seq += 1
        times[seq] = [time.time()] * 2  # nothing to commit: published at once
        event = {"specversion": "1.0", "id": f"ev_{seq}", "type": "bench.tick", "sequence": seq}
        event["data"] = {"n": n, "pad": PAD}
        frame = b"id: %d\nevent: bench.tick\ndata: %s\n\n" % (seq, orjson.dumps(event))
        for queue in queues:
            queue.put_nowait(frame)

    async def stream(request: Request) -> Response:
        async def frames() -> AsyncIterator[bytes]:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            queues.add(queue)
            try:
                yield b": live\n\n"
                while True:
                    batch = [await queue.get()]
                    while not queue.empty():
                        batch.append(queue.get_nowait())
                    yield b"".join(batch)
            finally:
                queues.discard(queue)

        return StreamingResponse(frames(), media_type="text/event-stream")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[*bench_routes(emit, times), Route("/v1/events", stream), Route("/healthz", healthz)])


async def main(mode: str, port: int, data_dir: Path) -> None:
    app: Any = await governed(port, data_dir) if mode == "governed" else bare(data_dir)
    tune_gc()  # as ``chamberlain serve`` does, for both
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    await uvicorn.Server(config).serve()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])))

"""One load generator for the HTTP benchmarks: ``concurrency`` requests in flight for
``seconds``, after a warm-up, with latencies and failures counted the same way everywhere."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


async def drive(send: Send, seconds: float, concurrency: int) -> tuple[float, list[float], int]:
    """Calls per second, each call's latency (s) and how many failed (not 200)."""
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one() -> None:
            nonlocal failures
            start = time.perf_counter()
            response = await send(client)
            latencies.append(time.perf_counter() - start)
            failures += response.status_code != 200

        for _ in range(concurrency * 10):  # warm every connection and process
            await one()
        latencies.clear()
        deadline = time.perf_counter() + seconds
        began = time.perf_counter()

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return len(latencies) / elapsed, latencies, failures


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile in milliseconds."""
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU a process has used, from /proc: client and servers share the
    cores, so CPU per call says what each one costs where wall-clock rates cannot."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

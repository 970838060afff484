"""What the MCP benchmarks share: server processes, CPU and memory read from /proc, and one
load phase (N calls or S seconds, whichever comes first, at a given concurrency) driven by
the official ``mcp`` SDK client, with latencies and failures counted the same way everywhere."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ARGUMENTS = {"a": 2, "b": 3}
EXPECTED = {"result": 5}


def _stat(pid: int) -> list[str]:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def tree_pids(pid: int) -> list[int]:
    """``pid`` and every live descendant (a server that forks workers counts them all)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                children.setdefault(int(_stat(int(entry))[1]), []).append(int(entry))
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live descendants."""
    total = 0
    for p in tree_pids(pid):
        try:
            fields = _stat(p)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid`` alone."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 30, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until something answers HTTP at ``url`` (any status); fail early if ``process`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            httpx.post(url, json={}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


@dataclass
class Server:
    """An MCP server under test: where to call it, which tool, and whose CPU to count."""

    name: str
    tool: str
    process: subprocess.Popen[bytes]
    url: str
    token: str | None = None
    data_dir: Path | None = None
    upstream: Server | None = None
    """A server this one forwards to (a gateway's upstream): its CPU is reported apart."""

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@asynccontextmanager
async def session(server: Server) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        async with streamable_http_client(server.url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s


async def call(s: ClientSession, server: Server, errors: list[str]) -> bool:
    """One ``add(2, 3)``; a wrong answer or an exception is a failure, noted in ``errors``."""
    try:
        result = await s.call_tool(server.tool, ARGUMENTS)
    except Exception as err:  # a transport failure is a failed call, not a crash of the benchmark
        errors.append(f"{type(err).__name__}: {err}"[:300])
        return False
    if result.is_error or result.structured_content != EXPECTED:
        errors.append(str(result.structured_content or result.content)[:300])
        return False
    return True


@dataclass
class Load:
    """What one load phase measured."""

    latencies: list[float] = field(default_factory=list)
    """Seconds per successful call."""
    calls: int = 0
    """Calls made in the measured part (successful or not)."""
    wall: float = 0.0
    server_cpu: float = 0.0
    upstream_cpu: float = 0.0
    client_cpu: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.calls / self.wall

    def cpu_ms(self, seconds: float) -> float:
        return seconds / max(1, self.calls) * 1000


def sessions_for(concurrency: int) -> int:
    """Tasks share sessions four to one (16 tasks over 4 sessions), as an agent host would."""
    return max(1, concurrency // 4)


async def load(server: Server, concurrency: int, calls: int, seconds: float, *, warmup: int = 1) -> Load:
    """``concurrency`` tasks over ``sessions_for(concurrency)`` sessions call the tool until
    ``calls`` calls were started or ``seconds`` passed; calls in flight then finish. Each
    session first makes ``warmup`` calls, not counted."""
    out = Load()
    async with AsyncExitStack() as stack:
        live = [await stack.enter_async_context(session(server)) for _ in range(sessions_for(concurrency))]
        for s in live:
            for _ in range(warmup):
                await call(s, server, out.errors)
        started = 0
        deadline = time.perf_counter() + seconds

        async def worker(s: ClientSession) -> None:
            nonlocal started
            while started < calls and time.perf_counter() < deadline:
                started += 1
                begin = time.perf_counter()
                if await call(s, server, out.errors):
                    out.latencies.append(time.perf_counter() - begin)

        before = _cpu(server)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(live[i % len(live)]) for i in range(concurrency)))
        out.wall = time.perf_counter() - t0
        out.calls = started
        _charge(out, server, before)
    return out


async def paced(server: Server, concurrency: int, rate: float, seconds: float) -> Load:
    """Open loop: ``concurrency`` tasks (over ``sessions_for(concurrency)`` sessions) start
    calls on a fixed schedule, ``rate`` a second in all, for ``seconds``. A call's latency
    counts from when it was due, so a server that falls behind is charged for the wait
    (no coordinated omission)."""
    out = Load()
    async with AsyncExitStack() as stack:
        live = [await stack.enter_async_context(session(server)) for _ in range(sessions_for(concurrency))]
        for s in live:
            await call(s, server, out.errors)
        t0 = time.perf_counter()
        count = int(rate * seconds)

        async def worker(i: int, s: ClientSession) -> None:
            for n in range(i, count, concurrency):
                due = t0 + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if await call(s, server, out.errors):
                    out.latencies.append(time.perf_counter() - due)

        before = _cpu(server)
        await asyncio.gather(*(worker(i, live[i % len(live)]) for i in range(concurrency)))
        out.wall = time.perf_counter() - t0
        out.calls = count
        _charge(out, server, before)
    return out


def _cpu(server: Server) -> tuple[float, float, float]:
    """CPU seconds used so far by the server, its upstream (if any) and this process."""
    upstream = server.upstream
    return server.cpu_seconds(), upstream.cpu_seconds() if upstream else 0.0, own_cpu_seconds()


def _charge(out: Load, server: Server, before: tuple[float, float, float]) -> None:
    """Charge ``out`` with the CPU each process used since ``before``."""
    now = _cpu(server)
    out.server_cpu, out.upstream_cpu, out.client_cpu = (b - a for a, b in zip(before, now, strict=True))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values: list[float]) -> tuple[float, float, float]:
    """Median, min and max."""
    return statistics.median(values), min(values), max(values)

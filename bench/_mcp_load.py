"""What the MCP benchmarks share: server processes, CPU and memory read from /proc, and one
load phase (N calls or S seconds, whichever comes first, at a given concurrency), with
latencies and failures counted the same way everywhere, driven by one of two clients:

``sdk``
    the official ``mcp`` SDK client (``ClientSession`` over ``streamable_http_client``), what
    an agent host runs; it costs this process 2-4 ms of CPU a call, more than the servers.
``wire``
    a load generator's client (as wrk or k6 are for HTTP): MCP Streamable HTTP spoken
    directly with aiohttp, about a tenth of that CPU, so that a shared machine measures the
    servers rather than the client. Per session it POSTs ``initialize``, keeps the
    ``Mcp-Session-Id`` the server may give and sends it and ``MCP-Protocol-Version`` from then
    on, POSTs ``notifications/initialized``, then one POST ``tools/call`` per call, reading a
    JSON or an SSE answer; it opens no GET stream, and DELETEs the session at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ARGUMENTS = {"a": 2, "b": 3}
EXPECTED = {"result": 5}
CLIENTS = ("sdk", "wire")
PROTOCOL_VERSION = "2025-11-25"


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


class WireError(Exception):
    """An MCP exchange that went wrong on the wire (HTTP status, body, JSON-RPC framing)."""


class WireSession:
    """One MCP session spoken directly over HTTP: a load generator's client, not an agent's."""

    def __init__(self, http: aiohttp.ClientSession, server: Server) -> None:
        self.http, self.server, self.last_id = http, server, 0
        self.headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        if server.token:
            self.headers["Authorization"] = f"Bearer {server.token}"

    async def initialize(self) -> None:
        params = {"protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        result, session_id = await self._request("initialize", params)
        if session_id:
            self.headers["Mcp-Session-Id"] = session_id
        self.headers["MCP-Protocol-Version"] = str(result.get("protocolVersion", PROTOCOL_VERSION))
        note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
        async with self.http.post(self.server.url, data=note, headers=self.headers) as r:
            if r.status not in (200, 202):
                raise WireError(f"notifications/initialized: HTTP {r.status}: {(await r.text())[:200]}")

    async def close(self) -> None:
        """End a session the server keeps (as the SDK client does); a refusal does not matter."""
        if "Mcp-Session-Id" in self.headers:
            try:
                async with self.http.delete(self.server.url, headers=self.headers):
                    pass
            except aiohttp.ClientError:
                pass

    async def call(self, errors: list[str]) -> bool:
        """One ``add(2, 3)``, judged as :func:`call` judges the SDK client's."""
        try:
            result, _ = await self._request("tools/call", {"name": self.server.tool, "arguments": ARGUMENTS})
        except Exception as err:  # a transport failure is a failed call, not a crash of the benchmark
            errors.append(f"{type(err).__name__}: {err}"[:300])
            return False
        if result.get("isError") is True or not _answers(result):
            errors.append(str(result.get("structuredContent") or result.get("content"))[:300])
            return False
        return True

    async def _request(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """POST one JSON-RPC request: its result, and the session id the server gave (if any)."""
        self.last_id += 1
        request_id = self.last_id  # tasks share the session: its counter moves on while this one waits
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        async with self.http.post(self.server.url, data=body, headers=self.headers) as r:
            raw = await r.read()
            if not 200 <= r.status < 300:
                raise WireError(f"HTTP {r.status}: {raw[:200]!r}")
            message = _sse_answer(raw.decode(), request_id) if r.content_type == "text/event-stream" else json.loads(raw)
            session_id = r.headers.get("Mcp-Session-Id")
        if not isinstance(message, dict) or message.get("id") != request_id:
            raise WireError(f"not the answer to request {request_id}: {raw[:200]!r}")
        if "error" in message:
            raise WireError(f"JSON-RPC error: {message['error']}")
        result = message.get("result")
        if not isinstance(result, dict):
            raise WireError(f"no result: {message}")
        return result, session_id


def _sse_answer(stream: str, request_id: int) -> Any:
    """The JSON-RPC message answering ``request_id`` among the ``data:`` of an SSE stream
    (which may carry notifications first); ``None`` if there is none."""
    for event in stream.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:"))
        message = json.loads(data) if data else None
        if isinstance(message, dict) and message.get("id") == request_id:
            return message
    return None


def _answers(result: dict[str, Any]) -> bool:
    """Whether a tool result carries ``EXPECTED``: as structured content where there is some,
    otherwise as the text of its one text block. FastMCP and ContextForge answer
    ``{"result": 5}`` with text ``5``, Chamberlain ``{"result": 5}`` with that as text; a bare
    ``5`` is accepted too."""
    value = result.get("structuredContent")
    if value is None:
        texts = [c.get("text") for c in result.get("content") or [] if isinstance(c, dict) and c.get("type") == "text"]
        if len(texts) != 1 or not isinstance(texts[0], str):
            return False
        try:
            value = json.loads(texts[0])
        except ValueError:
            return False
    return value == EXPECTED or value == EXPECTED["result"]


@asynccontextmanager
async def wire_session(server: Server) -> AsyncIterator[WireSession]:
    connector = aiohttp.TCPConnector(limit=0)  # the tasks sharing the session bound its connections
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        s = WireSession(http, server)
        await s.initialize()
        try:
            yield s
        finally:
            await s.close()


Call = Callable[[], Awaitable[bool]]
"""One call of the tool on a session already open: whether it succeeded (failures noted)."""


async def open_calls(stack: AsyncExitStack, server: Server, client: str, sessions: int, errors: list[str]) -> list[Call]:
    """Open ``sessions`` sessions with ``client`` (closed with ``stack``); a call function for each."""
    if client == "sdk":
        live = [await stack.enter_async_context(session(server)) for _ in range(sessions)]
        return [partial(call, s, server, errors) for s in live]
    if client == "wire":
        wired = [await stack.enter_async_context(wire_session(server)) for _ in range(sessions)]
        return [partial(w.call, errors) for w in wired]
    raise ValueError(f"unknown client {client!r}: one of {', '.join(CLIENTS)}")


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


async def load(server: Server, concurrency: int, calls: int, seconds: float, *, warmup: int = 1, client: str = "sdk") -> Load:
    """``concurrency`` tasks over ``sessions_for(concurrency)`` sessions of ``client`` call the
    tool until ``calls`` calls were started or ``seconds`` passed; calls in flight then finish.
    Each session first makes ``warmup`` calls, not counted."""
    out = Load()
    async with AsyncExitStack() as stack:
        live = await open_calls(stack, server, client, sessions_for(concurrency), out.errors)
        for one in live:
            for _ in range(warmup):
                await one()
        started = 0
        deadline = time.perf_counter() + seconds

        async def worker(one: Call) -> None:
            nonlocal started
            while started < calls and time.perf_counter() < deadline:
                started += 1
                begin = time.perf_counter()
                if await one():
                    out.latencies.append(time.perf_counter() - begin)

        before = _cpu(server)
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(live[i % len(live)]) for i in range(concurrency)))
        out.wall = time.perf_counter() - t0
        out.calls = started
        _charge(out, server, before)
    return out


async def paced(server: Server, concurrency: int, rate: float, seconds: float, *, client: str = "sdk") -> Load:
    """Open loop: ``concurrency`` tasks (over ``sessions_for(concurrency)`` sessions of ``client``) start
    calls on a fixed schedule, ``rate`` a second in all, for ``seconds``. A call's latency
    counts from when it was due, so a server that falls behind is charged for the wait
    (no coordinated omission)."""
    out = Load()
    async with AsyncExitStack() as stack:
        live = await open_calls(stack, server, client, sessions_for(concurrency), out.errors)
        for one in live:
            await one()
        t0 = time.perf_counter()
        count = int(rate * seconds)

        async def worker(i: int, one: Call) -> None:
            for n in range(i, count, concurrency):
                due = t0 + n / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if await one():
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

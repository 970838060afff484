"""Governed MCP tool call vs the same function served bare by FastMCP.

    python bench/mcp_overhead.py            # 5 rounds, ~2 minutes
    python bench/mcp_overhead.py --quick    # 2 rounds, smaller counts

Both servers run as separate processes on 127.0.0.1 and are driven by the official
``mcp`` SDK client from this process. Rounds alternate which server goes first, so
drift of this shared 2-core machine hits both; only ratios measured in the same run
are meaningful. Server CPU per call is read from /proc/<pid>/stat, because client and
servers share the cores and wall-clock figures alone would blame the client's cost on
the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    tool: str
    process: subprocess.Popen[bytes]
    url: str
    token: str | None = None
    data_dir: Path | None = None

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Phase:
    server: str
    round: int
    p50_ms: float
    p99_ms: float
    seq_calls_per_s: float
    seq_cpu_ms_per_call: float
    c16_calls_per_s: float
    c16_cpu_ms_per_call: float
    errors: int


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.post(url, json={}, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(url)


def start_servers(tmp: Path) -> list[Server]:
    bare_port, gov_port = free_port(), free_port()
    bare = subprocess.Popen(
        [sys.executable, str(HERE / "servers" / "bare_fastmcp.py"), str(bare_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data = tmp / "governed"
    data.mkdir()
    gov = subprocess.Popen(
        [sys.executable, str(HERE / "servers" / "governed.py"), str(gov_port), str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers = [
        Server("fastmcp-bare", "add", bare, f"http://127.0.0.1:{bare_port}/mcp"),
        Server("chamberlain", "math.add", gov, f"http://127.0.0.1:{gov_port}/mcp", data_dir=data),
    ]
    for s in servers:
        wait_up(s.url)
    servers[1].token = (data / "grant.txt").read_text().strip()
    return servers


@asynccontextmanager
async def session(server: Server) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {server.token}"} if server.token else {}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with streamable_http_client(server.url, http_client=http) as (read, write, *_):
            async with ClientSession(read, write) as s:
                await s.initialize()
                yield s


async def call(s: ClientSession, server: Server, errors: list[str]) -> None:
    result = await s.call_tool(server.tool, {"a": 2, "b": 3})
    if result.is_error or result.structured_content != {"result": 5}:
        errors.append(str(result.structured_content))


async def sequential(server: Server, n: int, errors: list[str]) -> tuple[list[float], float, float]:
    async with session(server) as s:
        for _ in range(30):
            await call(s, server, errors)
        latencies = []
        cpu0, t0 = server.cpu_seconds(), time.perf_counter()
        for _ in range(n):
            start = time.perf_counter()
            await call(s, server, errors)
            latencies.append(time.perf_counter() - start)
        return latencies, time.perf_counter() - t0, server.cpu_seconds() - cpu0


async def concurrent(server: Server, n: int, tasks: int, sessions: int, errors: list[str]) -> tuple[float, float]:
    async def worker(s: ClientSession, count: int) -> None:
        for _ in range(count):
            await call(s, server, errors)

    opened = [session(server) for _ in range(sessions)]
    live = [await cm.__aenter__() for cm in opened]
    try:
        for s in live:
            await call(s, server, errors)
        per_task = n // tasks
        cpu0, t0 = server.cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker(live[i % sessions], per_task) for i in range(tasks)))
        return time.perf_counter() - t0, server.cpu_seconds() - cpu0
    finally:
        for cm in reversed(opened):
            await cm.__aexit__(None, None, None)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(server: Server, rnd: int, n_seq: int, n_conc: int) -> Phase:
    errors: list[str] = []
    lat, seq_wall, seq_cpu = await sequential(server, n_seq, errors)
    conc_wall, conc_cpu = await concurrent(server, n_conc, tasks=16, sessions=4, errors=errors)
    n_conc_done = (n_conc // 16) * 16
    return Phase(
        server=server.name,
        round=rnd,
        p50_ms=quantile(lat, 0.5) * 1000,
        p99_ms=quantile(lat, 0.99) * 1000,
        seq_calls_per_s=n_seq / seq_wall,
        seq_cpu_ms_per_call=seq_cpu / n_seq * 1000,
        c16_calls_per_s=n_conc_done / conc_wall,
        c16_cpu_ms_per_call=conc_cpu / n_conc_done * 1000,
        errors=len(errors),
    )


def stage_medians(data_dir: Path) -> dict[str, float]:
    """Median time per pipeline stage, from the governed server's own call records."""
    db = sqlite3.connect(data_dir / "chamberlain.db")
    rows = [json.loads(r[0]) for r in db.execute("SELECT timings FROM calls WHERE outcome = 'ok'")]
    db.close()
    stages = sorted({k for r in rows for k in r})
    return {k: round(statistics.median(r[k] for r in rows if k in r) * 1000, 1) for k in stages}


def summarize(phases: list[Phase], field: str, server: str) -> tuple[float, float, float]:
    values = [getattr(p, field) for p in phases if p.server == server]
    return statistics.median(values), min(values), max(values)


def ratios(phases: list[Phase], field: str) -> tuple[float, float, float]:
    """Chamberlain / bare, per round (same-run ratios), then median and spread."""
    rounds = sorted({p.round for p in phases})
    by = {(p.server, p.round): getattr(p, field) for p in phases}
    values = [by[("chamberlain", r)] / by[("fastmcp-bare", r)] for r in rounds]
    return statistics.median(values), min(values), max(values)


ROWS: list[tuple[str, str, Callable[[float], str]]] = [
    ("sequential p50 (ms)", "p50_ms", lambda v: f"{v:.2f}"),
    ("sequential p99 (ms)", "p99_ms", lambda v: f"{v:.2f}"),
    ("sequential calls/s", "seq_calls_per_s", lambda v: f"{v:.0f}"),
    ("server CPU/call, sequential (ms)", "seq_cpu_ms_per_call", lambda v: f"{v:.2f}"),
    ("calls/s at concurrency 16", "c16_calls_per_s", lambda v: f"{v:.0f}"),
    ("server CPU/call at c16 (ms)", "c16_cpu_ms_per_call", lambda v: f"{v:.2f}"),
]


def report(phases: list[Phase], stages: dict[str, float]) -> str:
    lines = ["| measure | FastMCP 4.1.2 bare | Chamberlain governed | ratio (governed / bare) |", "|---|---|---|---|"]
    for label, field, fmt in ROWS:
        b, g, r = summarize(phases, field, "fastmcp-bare"), summarize(phases, field, "chamberlain"), ratios(phases, field)
        lines.append(
            f"| {label} | {fmt(b[0])} ({fmt(b[1])}–{fmt(b[2])}) | {fmt(g[0])} ({fmt(g[1])}–{fmt(g[2])}) "
            f"| {r[0]:.2f}x ({r[1]:.2f}–{r[2]:.2f}) |"
        )
    errors = sum(p.errors for p in phases)
    lines.append("")
    lines.append(f"failed calls: {errors}")
    lines.append("governed pipeline stage medians (µs, from call records): " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    return "\n".join(lines)


async def run(rounds: int, n_seq: int, n_conc: int) -> list[Phase]:
    phases = []
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(Path(tmp))
        try:
            for rnd in range(rounds):
                order = servers if rnd % 2 == 0 else list(reversed(servers))
                for server in order:
                    phase = await measure(server, rnd, n_seq, n_conc)
                    phases.append(phase)
                    print(
                        f"round {rnd + 1}/{rounds} {server.name:13s} p50 {phase.p50_ms:5.2f} ms  "
                        f"c16 {phase.c16_calls_per_s:5.0f}/s  cpu/call {phase.c16_cpu_ms_per_call:.2f} ms  "
                        f"errors {phase.errors}",
                        flush=True,
                    )
            stages = stage_medians(servers[1].data_dir)  # type: ignore[arg-type]
        finally:
            for s in servers:
                s.process.terminate()
                s.process.wait(timeout=10)
    table = report(phases, stages)
    print("\n" + table)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "mcp_overhead.json"
    out.write_text(
        json.dumps(
            {
                "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                "rounds": rounds,
                "sequential_calls": n_seq,
                "concurrent_calls": n_conc,
                "phases": [asdict(p) for p in phases],
                "stages_us": stages,
                "table": table,
            },
            indent=2,
        )
    )
    print(f"\nwritten {out.relative_to(HERE.parent)}")
    if any(p.errors for p in phases):
        raise SystemExit("some calls failed")
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400, help="sequential calls per round and server")
    parser.add_argument("--concurrent-calls", type=int, default=960, help="calls per round at concurrency 16")
    parser.add_argument("--quick", action="store_true", help="2 rounds with small counts (for CI-sized runs)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.concurrent_calls = 2, 100, 320
    asyncio.run(run(args.rounds, args.calls, args.concurrent_calls))


if __name__ == "__main__":
    main()

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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from _mcp_load import Server, free_port, load, quantile, wait_up

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


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
        wait_up(s.url, process=s.process)
    servers[1].token = (data / "grant.txt").read_text().strip()
    return servers


async def measure(server: Server, rnd: int, n_seq: int, n_conc: int) -> Phase:
    seq = await load(server, 1, n_seq, float("inf"), warmup=30)
    conc = await load(server, 16, n_conc, float("inf"))
    return Phase(
        server=server.name,
        round=rnd,
        p50_ms=quantile(seq.latencies, 0.5) * 1000,
        p99_ms=quantile(seq.latencies, 0.99) * 1000,
        seq_calls_per_s=seq.per_s,
        seq_cpu_ms_per_call=seq.cpu_ms(seq.server_cpu),
        c16_calls_per_s=conc.per_s,
        c16_cpu_ms_per_call=conc.cpu_ms(conc.server_cpu),
        errors=len(seq.errors) + len(conc.errors),
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
                s.stop()
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

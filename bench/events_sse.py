"""Commit-to-receipt latency of ``GET /v1/events`` fanned out to many SSE subscribers.

    python bench/events_sse.py                     # 1,000 subscribers, 500 events/s, 3 rounds
    python bench/events_sse.py --quick             # 200 subscribers, 1 round
    python bench/events_sse.py --subscribers 2000 --rate 250

Each round runs two servers in turn as separate processes (``servers/event_source.py``):
Chamberlain, whose events are committed one per transaction to the SQLite outbox and
reach each subscriber through the hub with its grant checked and filter applied; and
the floor, the same frames broadcast from memory by a bare Starlette route on the
same uvicorn. Subscribers are raw asyncio connections in this process; a sample of
them (``--probes``) note when each event arrived, the server notes when each event's
transaction committed (wall clock, same machine), and latency is the difference; the
rest only count. The first second is warm-up and not recorded. Reported beside it:
how long the events waited for their commit (``commit_p99_ms``, the store's share,
which is not part of the fan-out).

Client and server share the 2 cores, so the client's own cost slows the server: the
figures are a pessimistic bound for a server with the machine to itself. Server CPU
per thousand deliveries is read from /proc/<pid>/stat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import httpx
from mcp_overhead import TICK, free_port, quantile

HERE = Path(__file__).resolve().parent
WARMUP_S = 1.0
DATA = b"\ndata: "


@dataclass
class Tally:
    """What one run's subscribers saw."""

    arrivals: list[tuple[int, float]] = field(default_factory=list)
    delivered: int = 0
    errors: int = 0
    ended: int = 0


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


class Stream(asyncio.Protocol):
    """One SSE connection. A Protocol rather than a StreamReader: this process reads
    every byte a thousand streams carry, and must not be what the figures measure."""

    def __init__(self, token: str, probe: bool, tally: Tally, start: list[float]) -> None:
        self.token, self.probe, self.tally, self.start = token, probe, tally, start
        self.live = asyncio.Event()
        self.buffer = self.carry = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(
            b"GET /v1/events?types=bench.tick HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n"
            b"Authorization: Bearer %s\r\n\r\n" % self.token.encode()
        )

    def data_received(self, chunk: bytes) -> None:
        if not self.live.is_set():
            self.buffer += chunk
            if b": live" in self.buffer:
                if not self.buffer.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(self.buffer[:200].decode(errors="replace"))
                self.buffer = self.buffer.split(b": live\n\n", 1)[1]
                self.live.set()
            return
        if not self.probe:  # count frames without looking at them
            seen = self.carry + chunk
            self.tally.delivered += seen.count(DATA)
            self.tally.errors += seen.count(b"event: error\n")
            self.carry = seen[-(len(DATA) - 1) :]
            return
        frames = (self.buffer + chunk).split(b"\n\n")
        self.buffer = frames.pop()
        now = time.time()
        for frame in frames:
            at = frame.find(b"id: ")
            if at < 0:
                continue
            if b"event: error" in frame:
                self.tally.errors += 1
                continue
            self.tally.delivered += 1
            self.tally.arrivals.append((int(frame[at + 4 : frame.index(b"\n", at)]), now))

    def connection_lost(self, exc: Exception | None) -> None:
        self.tally.ended += 1


def start_server(mode: str, tmp: Path) -> tuple[subprocess.Popen[bytes], int, str]:
    port, data = free_port(), tmp / mode
    data.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, str(HERE / "servers" / "event_source.py"), mode, str(port), str(data)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port, (data / "grant.txt").read_text().strip()
        time.sleep(0.1)
    process.kill()
    raise TimeoutError(mode)


async def run(mode: str, tmp: Path, subscribers: int, probes: int, rate: float, seconds: float) -> dict[str, float]:
    process, port, token = start_server(mode, tmp)
    try:
        tally, start = Tally(), []
        loop = asyncio.get_running_loop()
        streams = []
        for i in range(subscribers):  # connect in small groups, as clients would arrive
            stream = Stream(token, i < probes, tally, start)
            await loop.create_connection(lambda s=stream: s, "127.0.0.1", port)  # type: ignore[misc]
            streams.append(stream)
            if i % 50 == 49:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(asyncio.gather(*(s.live.wait() for s in streams)), 120)
        async with httpx.AsyncClient() as http:
            cpu0, mine0 = cpu_seconds(process.pid), time.process_time()
            start.append(time.time())
            await http.post(f"http://127.0.0.1:{port}/bench/emit", params={"rate": rate, "seconds": seconds})
        await asyncio.sleep(seconds + 2)
        async with httpx.AsyncClient() as http:
            times = {int(k): v for k, v in (await http.get(f"http://127.0.0.1:{port}/bench/times")).json().items()}
        user, system = (b - a for a, b in zip(cpu0, cpu_seconds(process.pid), strict=True))
        client_cpu = time.process_time() - mine0
        for stream in streams:
            stream.transport.close()
        await asyncio.sleep(0.5)  # let the server see them go
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    warm = start[0] + WARMUP_S
    lat = [at - times[seq][1] for seq, at in tally.arrivals if times[seq][0] > warm] or [float("nan")]
    commit = [c - s for s, c in times.values() if s > warm] or [float("nan")]
    return {
        "p50_ms": quantile(lat, 0.5) * 1000,
        "p99_ms": quantile(lat, 0.99) * 1000,
        "max_ms": max(lat) * 1000,
        "commit_p99_ms": quantile(commit, 0.99) * 1000,
        "delivered_per_s": tally.delivered / seconds,
        "expected_per_s": rate * subscribers,
        "complete": tally.delivered / (rate * seconds * subscribers),
        "server_cpu_ms_per_1k": (user + system) / max(1, tally.delivered) * 1e6,
        "server_sys_share": system / max(1e-9, user + system),
        "server_cores": (user + system) / (seconds + 2),
        "client_cores": client_cpu / (seconds + 2),
        "errors": tally.errors,
    }


def report(results: dict[str, list[dict[str, float]]]) -> None:
    keys = [
        "p50_ms",
        "p99_ms",
        "max_ms",
        "commit_p99_ms",
        "delivered_per_s",
        "complete",
        "server_cpu_ms_per_1k",
        "server_sys_share",
        "server_cores",
        "client_cores",
        "errors",
    ]
    print(f"\n{'':24}" + "".join(f"{k:>22}" for k in results))
    for key in keys:
        row = "".join(f"{statistics.median(r[key] for r in runs):>22.2f}" for runs in results.values())
        print(f"{key:24}{row}")
    bare, gov = results["bare"], results["governed"]
    for key in ("p50_ms", "p99_ms", "server_cpu_ms_per_1k"):
        ratios = [g[key] / b[key] for g, b in zip(gov, bare, strict=True)]
        print(f"governed / bare {key:18} {statistics.median(ratios):.2f}x  (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500, help="events per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--probes", type=int, default=50, help="subscribers that time every event")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.rounds, args.seconds = 200, 1, 5
    print(f"{args.subscribers} subscribers, {args.rate:g} events/s for {args.seconds:g}s, {args.rounds} round(s)")
    results: dict[str, list[dict[str, float]]] = {"bare": [], "governed": []}
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            order = ["bare", "governed"] if rnd % 2 == 0 else ["governed", "bare"]
            for mode in order:
                out = asyncio.run(run(mode, Path(tmp) / f"r{rnd}", args.subscribers, args.probes, args.rate, args.seconds))
                results[mode].append(out)
                print(
                    f"round {rnd + 1} {mode:9} p50 {out['p50_ms']:.1f} ms  p99 {out['p99_ms']:.1f} ms  "
                    f"{out['delivered_per_s']:.0f}/s delivered ({out['complete']:.1%})  errors {out['errors']:.0f}"
                )
    report(results)


if __name__ == "__main__":
    main()

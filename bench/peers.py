"""Peer benchmark: one MCP tool call served bare by FastMCP (the floor), through
Chamberlain's governed pipeline, and through IBM ContextForge in front of that same
FastMCP server.

The floor runs twice: as FastMCP ships, and with the garbage-collector settings
``chamberlain serve`` gives the gateway (``--tune-gc``), so that one comparison holds
everything but governance equal. The governed server runs as ``chamberlain serve`` does.

    python bench/peers.py              # 5 rounds, about 25 minutes (ContextForge is slow)
    python bench/peers.py --quick      # 2 rounds, short phases: checks the setup
    python bench/peers.py --contextforge stateful    # one ContextForge mode only
    python bench/peers.py --contextforge none        # FastMCP and Chamberlain only
    python bench/peers.py --client wire --no-plots   # the light client only, plots untouched

Every server is a separate process on 127.0.0.1, driven from this process by two clients
(``--client``, both by default): ``sdk``, the official ``mcp`` SDK client an agent host
runs, and ``wire``, a load generator's client speaking MCP Streamable HTTP with aiohttp
(bench/_mcp_load.py). The SDK client costs this process 2-4 ms of CPU a call, more than
the servers, on a machine whose cores client and servers share: its figures compress
ratios toward 1 and its p99 at c16 is mostly the client's queue. The wire client costs
about 0.3 ms, so its figures are the servers'. Each client gets its own table, targets and
plots. Each round measures every server at concurrency 1, 16 and 64 (tasks share sessions
four to one), with the order of servers rotated from round to round so the drift of this
shared machine hits them alike; each server's SDK phases run, then its wire phases, so
both clients see every server at nearly the same time of the round, and each client's
ratios compare phases of that client in the same round. A phase ends after ``--calls`` calls (scaled
with concurrency) or ``--seconds``, whichever comes first, so the slow gateway costs
minutes, not hours. Ratios are computed per round, then summarised as median (min-max).
Server CPU per call comes from /proc/<pid>/stat (the process and its children); for
ContextForge the gateway's CPU is what counts, and its upstream's (the FastMCP server) is
reported apart. Any failed call fails the run.

ContextForge (``mcp-contextforge-gateway``, which pins ``mcp<2``) is installed on first use
into a virtual environment of its own, bench/.venvs/contextforge, and run with the settings
of shared/BASELINES.md: SQLite, authentication on, its rate limiter, plugins and UI off,
loopback upstreams allowed, one uvicorn worker, in its default stateless mode and with
``USE_STATEFUL_SESSIONS=true``. The upstream is registered with ``POST /gateways``, its tool
grouped into a virtual server with ``POST /servers``, and called at ``/servers/<id>/mcp``
with a bearer JWT from its own token tool.

Raw results: bench/results/peers.json (not committed); plots (unless ``--no-plots``):
docs/images/bench-peers-{latency,throughput}.png for the SDK client and
docs/images/bench-peers-wire-{latency,throughput}.png for the wire client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from _mcp_load import CLIENTS, Load, Server, free_port, load, paced, quantile, spread, wait_up

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
IMAGES = HERE.parent / "docs" / "images"
CF_VERSION = "1.0.7.post20260921"
CF_VENV = HERE / ".venvs" / "contextforge"
CF_PYTHON = CF_VENV / "bin" / "python"
CF_ADMIN = "admin@example.com"
CONCURRENCY = (1, 16, 64)
BARE, BARE_GC, GOVERNED = "fastmcp-bare", "fastmcp-bare-gc", "chamberlain"
FLOORS = (BARE, BARE_GC)
LABELS = {
    BARE: "FastMCP 4.1.2 bare",
    BARE_GC: "FastMCP bare, gateway GC",
    GOVERNED: "Chamberlain governed",
    "contextforge": "ContextForge (stateless)",
    "contextforge-stateful": "ContextForge (stateful)",
}
TARGET_VS_BARE = 1.0
TARGET_VS_CONTEXTFORGE = 10.0
TARGET_P99_C16_MS = 20.0
CLIENT_LABELS = {
    "sdk": "official mcp SDK client (ClientSession over streamable_http_client)",
    "wire": "wire client (aiohttp, MCP Streamable HTTP spoken directly, as a load generator)",
}


# -- ContextForge: install, start, register ----------------------------------------------


def ensure_contextforge() -> None:
    """Create bench/.venvs/contextforge with the pinned release, unless it is there already."""
    probe = [str(CF_PYTHON), "-c", "import importlib.metadata as m; print(m.version('mcp-contextforge-gateway'))"]
    if CF_PYTHON.exists():
        found = subprocess.run(probe, capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip() == CF_VERSION:
            return
    print(f"installing mcp-contextforge-gateway=={CF_VERSION} into {CF_VENV.relative_to(HERE.parent)} ...", flush=True)
    CF_VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CF_VENV)], check=True)
    subprocess.run(
        [str(CF_PYTHON), "-m", "pip", "install", "--quiet", f"mcp-contextforge-gateway=={CF_VERSION}"],
        check=True,
        stderr=subprocess.DEVNULL if os.environ.get("PEERS_QUIET_PIP") else None,
    )
    subprocess.run(probe, check=True, capture_output=True)


def contextforge_env(data: Path, port: int, stateful: bool) -> dict[str, str]:
    secrets = subprocess.run(
        [str(CF_PYTHON), "-m", "mcpgateway.scripts.init_secrets", "--stdout"], check=True, capture_output=True, text=True
    ).stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    for line in secrets.splitlines():
        if "=" in line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{data / 'mcp.db'}",
            "CACHE_TYPE": "database",
            "AUTH_REQUIRED": "true",
            "RATE_LIMITING_ENABLED": "false",
            "SSRF_ALLOW_LOCALHOST": "true",
            "PLUGINS_ENABLED": "false",
            "MCPGATEWAY_UI_ENABLED": "false",
            "MCPGATEWAY_ADMIN_API_ENABLED": "true",
            "PLATFORM_ADMIN_EMAIL": CF_ADMIN,
            "USE_STATEFUL_SESSIONS": "true" if stateful else "false",
            "LOG_LEVEL": "ERROR",
            "MCPGATEWAY_AUTO_INIT_SECRETS": "false",
        }
    )
    return env


def start_contextforge(name: str, tmp: Path, upstream: Server, *, stateful: bool) -> Server:
    data = tmp / name
    data.mkdir()
    port = free_port()
    env = contextforge_env(data, port, stateful)
    log = (data / "gateway.log").open("wb")
    process = subprocess.Popen(
        [str(CF_VENV / "bin" / "mcpgateway"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=data,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, data / "gateway.log")
        token = (
            subprocess.run(
                [str(CF_PYTHON), "-m", "mcpgateway.utils.create_jwt_token", "-u", CF_ADMIN, "--admin", "--exp", "600"],
                env=env,
                cwd=data,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        url, tool = _register(base, token, upstream)
    except BaseException:
        process.terminate()
        process.wait()
        raise
    return Server(name, tool, process, url, token=token, data_dir=data, upstream=upstream)


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ContextForge exited at start:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"ContextForge did not answer /health within {timeout}s")


def _register(base: str, token: str, upstream: Server) -> tuple[str, str]:
    """Register the upstream (POST /gateways), group its tool (POST /servers); the virtual
    server's MCP URL and the tool's name there."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
        gateway = http.post("/gateways", json={"name": "bench-upstream", "url": upstream.url, "transport": "STREAMABLEHTTP"})
        gateway.raise_for_status()
        gateway_id = gateway.json()["id"]
        tools = http.get("/tools")
        tools.raise_for_status()
        tool = next(t for t in tools.json() if t.get("gatewayId") == gateway_id and t.get("originalName") == upstream.tool)
        server = http.post("/servers", json={"server": {"name": "bench", "associated_tools": [tool["id"]]}})
        server.raise_for_status()
        return f"{base}/servers/{server.json()['id']}/mcp", str(tool["name"])


# -- the floor and the governed server ------------------------------------------------------


def start_own(tmp: Path) -> list[Server]:
    """The floor as FastMCP ships, the floor with the garbage-collector settings the gateway
    runs with (``--tune-gc``: everything equal but governance), and the governed server."""
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    floors = []
    for name, extra in ((BARE, []), (BARE_GC, ["--tune-gc"])):
        port = free_port()
        process = subprocess.Popen([sys.executable, str(HERE / "servers" / "bare_fastmcp.py"), str(port), *extra], **quiet)  # type: ignore[call-overload]
        floors.append(Server(name, "add", process, f"http://127.0.0.1:{port}/mcp"))
    data = tmp / "governed"
    data.mkdir()
    gov_port = free_port()
    gov = subprocess.Popen([sys.executable, str(HERE / "servers" / "governed.py"), str(gov_port), str(data)], **quiet)  # type: ignore[call-overload]
    governed = Server(GOVERNED, "math.add", gov, f"http://127.0.0.1:{gov_port}/mcp", data_dir=data)
    for s in (*floors, governed):
        wait_up(s.url, process=s.process)
    governed.token = (data / "grant.txt").read_text().strip()
    return [*floors, governed]


# -- measuring ------------------------------------------------------------------------------


@dataclass
class Phase:
    server: str
    client: str
    """``sdk`` or ``wire``: which client of bench/_mcp_load.py drove the phase."""
    round: int
    concurrency: int
    mode: str
    """``closed``: each task sends its next call when the last one answered (throughput);
    ``paced``: calls start on a schedule at a fixed rate (latency under a given load)."""
    offered_per_s: float
    """The schedule's rate, for a paced phase (0 for a closed loop)."""
    calls: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_call: float
    upstream_cpu_ms_per_call: float
    client_cpu_ms_per_call: float
    errors: int


def phase(server: Server, client: str, rnd: int, c: int, got: Load, offered: float = 0.0) -> Phase:
    mode = "paced" if offered else "closed"
    done = Phase(
        server=server.name,
        client=client,
        round=rnd,
        concurrency=c,
        mode=mode,
        offered_per_s=offered,
        calls=got.calls,
        seconds=round(got.wall, 3),
        calls_per_s=got.per_s,
        p50_ms=quantile(got.latencies, 0.5) * 1000,
        p99_ms=quantile(got.latencies, 0.99) * 1000,
        server_cpu_ms_per_call=got.cpu_ms(got.server_cpu),
        upstream_cpu_ms_per_call=got.cpu_ms(got.upstream_cpu),
        client_cpu_ms_per_call=got.cpu_ms(got.client_cpu),
        errors=len(got.errors),
    )
    for error in got.errors[:3]:
        print(f"    {server.name} c{c} {client} client failed call: {error}", flush=True)
    print(
        f"round {rnd + 1} {client:4s} {server.name:22s} c{c:<3d}{'p' if mode == 'paced' else ' '} {done.calls:6d} calls "
        f"{done.calls_per_s:7.1f}/s  p50 {done.p50_ms:7.2f} ms  p99 {done.p99_ms:7.2f} ms  "
        f"cpu/call {done.server_cpu_ms_per_call:6.2f} ms"
        + (f" (+ upstream {done.upstream_cpu_ms_per_call:.2f})" if server.upstream else "")
        + f"  client {done.client_cpu_ms_per_call:.2f} ms  errors {done.errors}",
        flush=True,
    )
    return done


def key(client: str, server: str, panel: str) -> str:
    """Where a phase's latencies go in ``latencies`` (and in peers.json): ``wire/chamberlain@16p``."""
    return f"{client}/{server}@{panel}"


async def measure(
    server: Server, client: str, rnd: int, args: argparse.Namespace, latencies: dict[str, list[float]]
) -> list[Phase]:
    phases = []
    for c in CONCURRENCY:
        n = args.calls * (1 if c == 1 else c // 8 * 5)  # 400 sequential, 4,000 at c16, 16,000 at c64 by default
        got = await load(server, c, n, args.seconds, warmup=30 if c == 1 else 1, client=client)
        latencies.setdefault(key(client, server.name, str(c)), []).extend(got.latencies)
        phases.append(phase(server, client, rnd, c, got))
    if server.upstream is None and args.paced_rate > 0:  # ContextForge cannot keep up with it: skipped
        got = await paced(server, 16, args.paced_rate, args.seconds, client=client)
        latencies.setdefault(key(client, server.name, "16p"), []).extend(got.latencies)
        phases.append(phase(server, client, rnd, 16, got, args.paced_rate))
    return phases


# -- summarising ---------------------------------------------------------------------------


def values(phases: list[Phase], server: str, c: int, field: str, mode: str = "closed") -> list[float]:
    return [getattr(p, field) for p in phases if p.server == server and p.concurrency == c and p.mode == mode]


def ratios(phases: list[Phase], c: int, field: str, over: str, mode: str = "closed") -> list[float]:
    """governed / ``over``, per round."""
    by = {(p.server, p.round): getattr(p, field) for p in phases if p.concurrency == c and p.mode == mode}
    rounds = sorted({p.round for p in phases})
    return [by[(GOVERNED, r)] / by[(over, r)] for r in rounds if (over, r) in by and by[(over, r)]]


def fmt(v: tuple[float, float, float], digits: int) -> str:
    return f"{v[0]:.{digits}f} ({v[1]:.{digits}f}–{v[2]:.{digits}f})"


ROWS: list[tuple[str, str, int]] = [
    ("calls/s", "calls_per_s", 0),
    ("p50 (ms)", "p50_ms", 2),
    ("p99 (ms)", "p99_ms", 2),
    ("server CPU/call (ms)", "server_cpu_ms_per_call", 2),
]


def report(phases: list[Phase], names: list[str], client: str) -> tuple[str, dict[str, bool]]:
    """The table and the targets for the phases of one client (``phases`` are that client's)."""
    others = [n for n in names if n != GOVERNED]
    title = f"== {client} client: {CLIENT_LABELS[client]} =="
    head = "| c | measure | " + " | ".join(LABELS[n] for n in names) + " | " + " | ".join(f"gov. / {n}" for n in others) + " |"
    lines = [title, "", head, "|" + "---|" * (2 + len(names) + len(others))]
    for c in CONCURRENCY:
        for label, field, digits in ROWS:
            cells = [fmt(spread(values(phases, n, c, field)), digits) for n in names]
            rs = [fmt(spread(ratios(phases, c, field, n)), 2) + "x" for n in others]
            lines.append(f"| {c} | {label} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")
    own = [n for n in names if not n.startswith("contextforge")]
    if any(p.mode == "paced" for p in phases):
        rate = statistics.median(p.offered_per_s for p in phases if p.mode == "paced")
        for label, field, digits in ROWS:
            cells = [fmt(spread(values(phases, n, 16, field, "paced")), digits) if n in own else "n/a" for n in names]
            rs = [fmt(spread(ratios(phases, 16, field, n, "paced")), 2) + "x" if n in own else "n/a" for n in others]
            lines.append(f"| 16, paced at {rate:.0f}/s | {label} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")
    upstream = [n for n in names if n.startswith("contextforge")]
    lines.append("")
    for n in upstream:
        per_c = ", ".join(f"c{c} {fmt(spread(values(phases, n, c, 'upstream_cpu_ms_per_call')), 2)}" for c in CONCURRENCY)
        lines.append(f"{LABELS[n]}: upstream FastMCP CPU per call (ms) {per_c}")
    per_c = ", ".join(
        f"c{c} " + "/".join(f"{spread(values(phases, n, c, 'client_cpu_ms_per_call'))[0]:.2f}" for n in names)
        for c in CONCURRENCY
    )
    lines.append(f"client ({client}, this process) CPU per call (ms), {'/'.join(names)}: {per_c}")
    failed = sum(p.errors for p in phases)
    lines.append(f"failed calls ({client} client): {failed}")

    verdicts: dict[str, bool] = {}
    lines.append(f"\ntargets, {client} client (medians of per-round ratios):")
    for c in CONCURRENCY:
        for n in (f for f in FLOORS if f in names):
            r = spread(ratios(phases, c, "calls_per_s", n))
            verdicts[f"throughput c{c} >= {TARGET_VS_BARE}x {n}"] = r[0] >= TARGET_VS_BARE
            lines.append(f"  c{c}: governed / {LABELS[n]} throughput {fmt(r, 2)}x (target >= {TARGET_VS_BARE}x)")
        for n in upstream:
            r = spread(ratios(phases, c, "calls_per_s", n))
            verdicts[f"throughput c{c} >= {TARGET_VS_CONTEXTFORGE}x {n}"] = r[0] >= TARGET_VS_CONTEXTFORGE
            lines.append(f"  c{c}: governed / {LABELS[n]} throughput {fmt(r, 1)}x (target >= {TARGET_VS_CONTEXTFORGE}x)")
    p99 = spread(values(phases, GOVERNED, 16, "p99_ms"))
    verdicts[f"p99 at c16 < {TARGET_P99_C16_MS} ms (closed loop)"] = p99[0] < TARGET_P99_C16_MS
    lines.append(f"  governed p99 at c16, closed loop: {fmt(p99, 2)} ms (target < {TARGET_P99_C16_MS:g} ms)")
    throughput = spread(values(phases, GOVERNED, 16, "calls_per_s"))[0]
    lines.append(
        f"    (a closed loop of 16 has a mean latency of 16 / throughput = {16 / throughput * 1000:.1f} ms here, "
        f"Little's law: under {TARGET_P99_C16_MS:g} ms needs over {16 / TARGET_P99_C16_MS * 1000:.0f} calls/s "
        f"with the {client} client)"
    )
    paced_p99 = values(phases, GOVERNED, 16, "p99_ms", "paced")
    if paced_p99:
        verdicts[f"p99 at c16 < {TARGET_P99_C16_MS} ms (paced)"] = spread(paced_p99)[0] < TARGET_P99_C16_MS
        lines.append(f"  governed p99 at c16, paced: {fmt(spread(paced_p99), 2)} ms (target < {TARGET_P99_C16_MS:g} ms)")
    verdicts = {f"{client}: {what}": ok for what, ok in verdicts.items()}
    for what, ok in verdicts.items():
        lines.append(f"  {'met' if ok else 'NOT MET'}: {what}")
    return "\n".join(lines), verdicts


def plot(phases: list[Phase], latencies: dict[str, list[float]], names: list[str], subtitle: str, client: str) -> list[Path]:
    """The latency and the throughput plots of one client (``phases`` are that client's):
    bench-peers-*.png for the SDK client, bench-peers-wire-*.png for the wire client."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    IMAGES.mkdir(parents=True, exist_ok=True)
    colors = {BARE: "#888888", BARE_GC: "#3a3a3a", GOVERNED: "#1f6feb"}
    colors |= {"contextforge": "#d1242f", "contextforge-stateful": "#f08c00"}
    prefix = "bench-peers-" if client == "sdk" else f"bench-peers-{client}-"
    subtitle = f"{client} client, {subtitle}"
    panels = [(str(c), f"concurrency {c}, closed loop") for c in CONCURRENCY]
    if any(p.mode == "paced" for p in phases):
        rate = statistics.median(p.offered_per_s for p in phases if p.mode == "paced")
        panels.append(("16p", f"16 tasks paced at {rate:.0f} calls/s"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6), sharey=True)
    for ax, (panel, title) in zip(axes, panels, strict=True):
        for n in names:
            data = sorted(v * 1000 for v in latencies.get(key(client, n, panel), []))
            if data:
                ax.plot(data, [(i + 1) / len(data) for i in range(len(data))], label=LABELS[n], color=colors[n])
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("latency per call (ms, log scale)")
        ax.grid(True, which="both", alpha=0.3)
        ax.axhline(0.99, color="black", linewidth=0.5, linestyle=":")
    axes[0].set_ylabel("share of calls at or below")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"MCP tool call latency, CDF over all rounds ({subtitle})", fontsize=10)
    fig.tight_layout()
    latency_png = IMAGES / f"{prefix}latency.png"
    fig.savefig(latency_png, dpi=110)
    plt.close(fig)

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        for ax, field in ((left, "calls_per_s"), (right, "server_cpu_ms_per_call")):
            med, lo, hi = zip(*(spread(values(phases, n, c, field)) for c in CONCURRENCY), strict=True)
            xs = [j + i * width for j in range(len(CONCURRENCY))]
            errs = [[m - a for m, a in zip(med, lo, strict=True)], [b - m for m, b in zip(med, hi, strict=True)]]
            ax.bar(xs, med, width, yerr=errs, capsize=3, label=LABELS[n], color=colors[n])
    for ax, title in ((left, "calls per second (median, min–max of rounds)"), (right, "server CPU per call, ms")):
        ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(CONCURRENCY))])
        ax.set_xticklabels([f"c{c}" for c in CONCURRENCY])
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.grid(True, axis="y", which="both", alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(f"Throughput and server CPU ({subtitle})", fontsize=10)
    fig.tight_layout()
    throughput_png = IMAGES / f"{prefix}throughput.png"
    fig.savefig(throughput_png, dpi=110)
    plt.close(fig)
    return [latency_png, throughput_png]


# -- the run --------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    modes = [m for m in args.contextforge.split(",") if m and m != "none"]
    clients = list(CLIENTS) if args.client == "both" else [args.client]
    if modes:
        ensure_contextforge()
    phases: list[Phase] = []
    latencies: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        servers: list[Server] = []
        try:
            servers += start_own(Path(tmp))
            floor = servers[0]
            for mode in modes:
                name = "contextforge" if mode == "stateless" else "contextforge-stateful"
                servers.append(start_contextforge(name, Path(tmp), floor, stateful=mode == "stateful"))
            names = [s.name for s in servers]
            print(f"servers up: {', '.join(names)}", flush=True)
            for rnd in range(args.rounds):
                k = rnd % len(servers)
                order = servers[k:] + servers[:k]
                if rnd % 2:
                    order.reverse()
                for server in order:
                    for client in clients:
                        phases += await measure(server, client, rnd, args, latencies)
        except BaseException:
            for s in servers:
                if s.data_dir is not None and (s.data_dir / "gateway.log").exists():
                    print(f"--- {s.name} log (tail) ---\n{(s.data_dir / 'gateway.log').read_text()[-2000:]}", file=sys.stderr)
            raise
        finally:
            for s in reversed(servers):
                s.stop()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"{args.rounds} rounds{', --quick' if args.quick else ''}, {os.cpu_count()} cores, {when}"
    tables: list[str] = []
    verdicts: dict[str, bool] = {}
    pictures: list[Path] = []
    for client in clients:
        mine = [p for p in phases if p.client == client]
        table, met = report(mine, names, client)
        print("\n" + table, flush=True)
        tables.append(table)
        verdicts |= met
        if not args.no_plots:
            pictures += plot(mine, latencies, names, subtitle, client)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "peers.json"
    out.write_text(
        json.dumps(
            {
                "when": when,
                "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
                "contextforge_version": CF_VERSION if modes else None,
                "args": vars(args),
                "phases": [asdict(p) for p in phases],
                "latencies_ms": {k: [round(v * 1000, 4) for v in vs] for k, vs in latencies.items()},
                "clients": clients,
                "verdicts": verdicts,
                "table": "\n\n".join(tables),
            }
        )
    )
    print("\nwritten " + ", ".join(str(p.relative_to(HERE.parent)) for p in [out, *pictures]))
    if any(p.errors for p in phases):
        raise SystemExit("some calls failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400, help="sequential calls per phase (x10 at c16, x40 at c64)")
    parser.add_argument("--seconds", type=float, default=10.0, help="longest a phase runs (then in-flight calls finish)")
    parser.add_argument(
        "--contextforge",
        default="stateless,stateful",
        help="ContextForge modes to run: stateless, stateful, both comma-separated, or none",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=200.0,
        help="calls/s of the paced phase at c16 (latency under a set load; FastMCP and Chamberlain only; 0 skips it)",
    )
    parser.add_argument(
        "--client",
        choices=[*CLIENTS, "both"],
        default="both",
        help="which load client drives the servers: the mcp SDK's, the light wire client, or both (default)",
    )
    parser.add_argument("--no-plots", action="store_true", help="leave docs/images alone")
    parser.add_argument("--quick", action="store_true", help="2 rounds, phases of at most 3 s: checks the setup")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.calls, args.seconds = 2, 100, 3.0
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

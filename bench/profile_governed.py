"""Where a governed MCP call spends its server time: py-spy on the Chamberlain server under load.

    python bench/profile_governed.py [--seconds 8] [--sessions 8] [--server governed|bare]

Writes collapsed stacks to bench/results/profile.txt (open with speedscope or
flamegraph.pl) and prints the share of samples by layer and the top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mcp_overhead import free_port, wait_up  # noqa: E402

SERVERS = {"governed": "governed", "bare": "bare_fastmcp"}

# First match wins, checked from the innermost frame outwards.
LAYERS = [
    ("chamberlain pipeline", "chamberlain/pipeline/"),
    ("chamberlain grants", "chamberlain/grants/"),
    ("chamberlain store (SQLite)", "chamberlain/store/"),
    ("chamberlain MCP surface", "chamberlain/surfaces/"),
    ("sqlalchemy", "sqlalchemy/"),
    ("mcp SDK", "/mcp/"),
    ("mcp types", "mcp_types/"),
    ("pydantic", "pydantic"),
    ("starlette", "starlette/"),
    ("uvicorn / h11", "uvicorn/"),
    ("uvicorn / h11", "h11/"),
    ("anyio", "anyio/"),
    ("asyncio event loop", "asyncio/"),
]


# Inclusive view: the outermost responsibility a sample belongs to.
SCOPES = [
    ("governance pipeline (Gateway.call)", "chamberlain/pipeline/_gateway.py"),
    ("MCP SDK request handling", "mcp/server/"),
    ("waiting for I/O (epoll)", "selectors.py"),
]


def scope_of(stack: list[str]) -> str:
    for name, marker in SCOPES:
        if any(marker in frame for frame in stack):
            return name
    return "HTTP server, event loop and the rest"


def layer_of(stack: list[str]) -> str:
    for frame in reversed(stack):
        for name, marker in LAYERS:
            if marker in frame:
                return name
    return "other"


async def load(url: str, token: str, seconds: float, sessions: int = 8, tool: str = "math.add") -> int:
    done = 0

    async def worker() -> None:
        nonlocal done
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30) as http:
            async with streamable_http_client(url, http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    end = time.monotonic() + seconds
                    while time.monotonic() < end:
                        await s.call_tool(tool, {"a": 1, "b": 2})
                        done += 1

    await asyncio.gather(*(worker() for _ in range(sessions)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--server", choices=["governed", "bare"], default="governed", help="bare: FastMCP, for comparison")
    parser.add_argument("--sessions", type=int, default=8, help="concurrent client sessions; 1 profiles sequential calls")
    args = parser.parse_args()
    out = HERE / "results" / "profile.txt"
    out.parent.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, str(HERE / "servers" / f"{SERVERS[args.server]}.py"), str(port), tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            wait_up(url)
            token = (Path(tmp) / "grant.txt").read_text().strip() if args.server == "governed" else ""
            tool = "math.add" if args.server == "governed" else "add"
            asyncio.run(load(url, token, 1.0, tool=tool))  # warm up caches before sampling
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    "500",
                    "--duration",
                    str(int(args.seconds)),
                    "--format",
                    "raw",
                    "--nonblocking",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            calls = asyncio.run(load(url, token, args.seconds + 0.5, args.sessions, tool))
            spy.wait(timeout=60)
        finally:
            server.terminate()
            server.wait(timeout=10)
    scopes: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        stack, count = stack_text.split(";"), int(count_text)
        total += count
        layers[layer_of(stack)] += count
        scopes[scope_of(stack)] += count
        functions[stack[-1]] += count
    print(f"{calls} calls under load, {total} samples\n\nwhere server time goes (inclusive):")
    for name, count in scopes.most_common():
        print(f"  {name:40s} {count / total:6.1%}")
    print("\nshare of server samples by layer (innermost frame):")
    for name, count in layers.most_common():
        print(f"  {name:28s} {count / total:6.1%}")
    print("\ntop functions by self time:")
    for name, count in functions.most_common(15):
        print(f"  {count / total:6.1%}  {name[:110]}")
    print(f"\ncollapsed stacks: {out.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

"""What a grant costs a governed call: cold verification vs the verified-grant cache.

    python bench/grant_cost.py [--calls 2000]

In-process (no HTTP), on the real SQLite store: the same trivial action called through
the whole pipeline (1) with the verified-grant cache as it runs in production, and
(2) with the cache emptied before every call, so each call pays Biscuit parsing and
signature verification. Also times the grant work alone (verify + revocation lookup +
authorize) and reports it as a share of the governed call measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import Call
from chamberlain.tenants import create_tenant
from chamberlain.timeutil import utc_now

surface = Surface("bench")


@surface.action("math.add", risk="read")
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def per_call_us(n: int, fn: Callable[[], Awaitable[object]], before: Callable[[], None] | None = None) -> float:
    """Median of 5 batches of n/5 calls, in µs per call."""
    batches = []
    for _ in range(5):
        elapsed = 0.0
        for _ in range(n // 5):
            if before:
                before()
            start = time.perf_counter()
            await fn()
            elapsed += time.perf_counter() - start
        batches.append(elapsed / (n // 5) * 1e6)
    return statistics.median(batches)


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(surface, Settings(data_dir=Path(tmp)))
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "bench", "Bench")
            token = (await rt.authority.issue("bench", "agent:bench", ["math.*"], timedelta(hours=1))).token
            authority = rt.authority

            async def governed() -> None:
                outcome = await rt.gateway.call(Call("math.add", {"a": 1, "b": 2}, token, "bench"))
                assert outcome.ok

            async def grant_only() -> None:
                grant = await authority.verify(token)
                grant.authorize("math.add", authority.audience, utc_now(), {})

            def cold() -> None:
                authority._cache.clear()  # what a first call with this token pays

            for _ in range(200):
                await governed()
            warm_call = await per_call_us(n, governed)
            cold_call = await per_call_us(n, governed, cold)
            warm_grant = await per_call_us(n, grant_only)
            cold_grant = await per_call_us(n, grant_only, cold)
    print(f"governed call, in-process (µs): cached grant {warm_call:.0f}, cold grant {cold_call:.0f}")
    print(f"grant work alone (µs):          cached {warm_grant:.1f}, cold {cold_grant:.1f}")
    print(f"grant share of a governed call: cached {warm_grant / warm_call:.1%}, cold {cold_grant / cold_call:.1%}")
    print(
        "(over HTTP the governed MCP call costs ~1.3 ms of server CPU, see bench/mcp_overhead.py;"
        f" the cached grant is {warm_grant / 1300:.1%} of that)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))

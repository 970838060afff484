"""What an idempotency key costs a governed write, and what a replay costs.

    python bench/idempotency_cost.py [--calls 2000]

In-process (no HTTP), on the real SQLite store, the same trivial write called through
the whole pipeline (1) without a key, (2) with a fresh key each call (a claim in its own
transaction, then the outcome stored with the key in the call's transaction), and (3)
again with a key already used (a replay: the stored outcome, recorded, nothing run).
The baseline is (1), measured in the same run. Issue #7's target: the idempotency and
rate-limit stages together under 10% of a governed call; the limit stage is not built
yet, so this measures the first of the two.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path

from grant_cost import per_call_us

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import Call
from chamberlain.tenants import create_tenant

surface = Surface("bench")
HTTP_CALL_US = 1300
"""Server CPU of one governed call over HTTP, from bench/mcp_overhead.py (docs/performance.md)."""


@surface.action("notes.add", risk="write")
async def add(text: str) -> dict[str, str]:
    """Store nothing, answer at once: the pipeline is what is measured."""
    return {"text": text}


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(surface, Settings(data_dir=Path(tmp)))
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "bench", "Bench")
            await rt.policies.publish("bench", {"all.cedar": "permit (principal, action, resource);"}, author="bench")
            token = (await rt.authority.issue("bench", "agent:bench", ["notes.*"], timedelta(hours=1))).token
            fresh = (f"key-{i}" for i in itertools.count())

            async def call(key: str | None) -> None:
                outcome = await rt.gateway.call(Call("notes.add", {"text": "x"}, token, "bench", idempotency_key=key))
                assert outcome.ok, outcome.error

            for _ in range(200):
                await call(None)
            await call("used")
            rounds = []
            for _ in range(7):  # interleaved, so the machine's drift hits the three alike
                bare = await per_call_us(n // 7, lambda: call(None))
                keyed = await per_call_us(n // 7, lambda: call(next(fresh)))
                replay = await per_call_us(n // 7, lambda: call("used"))
                rounds.append((bare, keyed, replay))
    bare, keyed, replay = (statistics.median(r[i] for r in rounds) for i in range(3))
    added = statistics.median(k - b for b, k, _ in rounds)
    spread = sorted(k / b - 1 for b, k, _ in rounds)
    print(f"governed write in-process (µs, median of 7 rounds): no key {bare:.0f}, fresh key {keyed:.0f}, replay {replay:.0f}")
    print(
        f"a fresh key adds {added:.0f} µs: {added / bare:.1%} of the in-process write (rounds {spread[0]:.1%} to"
        f" {spread[-1]:.1%}), {added / HTTP_CALL_US:.1%} of a governed call over HTTP (target with limits: <10%)"
    )
    print(f"a replay costs {statistics.median(r / b for b, _, r in rounds):.2f}x an unkeyed write (recorded, audited, not run)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))

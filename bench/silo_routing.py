"""What routing a tenant to a database of its own costs a governed write.

    python bench/silo_routing.py [--calls 7000]

In-process (no HTTP), on SQLite, the same trivial write with an idempotency key through
the whole pipeline, by three tenants:

1. in a gateway without silos (the baseline: no router at all);
2. pooled, in a gateway whose other tenant has a silo (the router's pass-through);
3. siloed, in a database of its own (every statement looked at and routed).

Rounds interleave the three so the machine's drift hits them alike. The figures go into
docs/scaling.md.
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
from stage_costs import HTTP_CALL_US, surface

from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import Call
from chamberlain.tenants import create_tenant

PERMIT = {"all.cedar": "permit (principal, action, resource);"}


async def _tenant(rt: Runtime, tenant: str) -> str:
    await create_tenant(rt.store, rt.keys, tenant, tenant)
    await rt.policies.publish(tenant, PERMIT, author="bench")
    return (await rt.authority.issue(tenant, "agent:bench", ["notes.*"], timedelta(hours=1))).token


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plain = Runtime(surface, Settings(data_dir=Path(tmp) / "plain"))
        hybrid = Runtime(surface, Settings(data_dir=Path(tmp) / "hybrid", tenant_databases=f"siloed=sqlite:///{tmp}/siloed.db"))
        async with plain.running(), hybrid.running():
            fresh = (f"key-{i}" for i in itertools.count())

            def caller(rt: Runtime, token: str):  # type: ignore[no-untyped-def]
                async def call() -> None:
                    outcome = await rt.gateway.call(Call("notes.add", {"text": "x"}, token, "bench", idempotency_key=next(fresh)))
                    assert outcome.ok, outcome.error

                return call

            modes = {
                "no router": caller(plain, await _tenant(plain, "alone")),
                "pooled": caller(hybrid, await _tenant(hybrid, "pooled")),
                "siloed": caller(hybrid, await _tenant(hybrid, "siloed")),
            }
            for run in modes.values():
                for _ in range(200):
                    await run()
            rounds = [{name: await per_call_us(n // 7, run) for name, run in modes.items()} for _ in range(7)]
    base = statistics.median(r["no router"] for r in rounds)
    print(f"governed keyed write in-process, µs (median of 7 interleaved rounds, {n // 7} calls each):")
    for name in modes:
        cost = statistics.median(r[name] for r in rounds)
        added = statistics.median(r[name] - r["no router"] for r in rounds)
        share, over_http = added / base, added / HTTP_CALL_US
        print(f"  {name:9} {cost:6.0f}  {added:+5.0f} µs = {share:+6.1%} in-process, {over_http:+5.1%} of a call over HTTP")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=7000)
    asyncio.run(main(parser.parse_args().calls))

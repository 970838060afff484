"""What the idempotency, rate-limit and revert stages cost a governed write.

    python bench/stage_costs.py [--calls 7000]

In-process (no HTTP), on the real SQLite store, the same trivial write called through
the whole pipeline: (1) plain, no key and no declared rate; (2) with a fresh
idempotency key each call (a keyed read, then the outcome stored with the key in the
call's transaction); (3) of an action with a declared rate (high enough never to
refuse), so every call is counted; (4) both; (5) again with a key already used (a
replay: the stored outcome, recorded, nothing run); (6) through a gateway without the
two revert stages, which every call passes (so a negative cost is what they add);
(7) of an action that declares an undo (its arguments and result are kept); and (8) a
revert of one such call (checks, claim, a compensation that does nothing). Rounds
interleave the modes so the machine's drift hits them alike; the baseline is (1) in the
same round. Issue #7's target: idempotency and rate limit together under 10% of a
governed call.
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

from chamberlain import Context, Original, Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import REVERT_CALLS, Call, Gateway
from chamberlain.tenants import create_tenant

surface = Surface("bench")
HTTP_CALL_US = 1300
"""Server CPU of one governed call over HTTP, from bench/mcp_overhead.py (docs/performance.md)."""


@surface.action("notes.add", risk="write")
async def add(text: str) -> dict[str, str]:
    """Store nothing, answer at once: the pipeline is what is measured."""
    return {"text": text}


@surface.action("notes.limited", risk="write", rate="1000000/second")
async def limited(text: str) -> dict[str, str]:
    """The same, counted against a declared rate."""
    return {"text": text}


@surface.action("notes.undoable", risk="write")
async def undoable(text: str) -> dict[str, str]:
    """The same, with an undo declared."""
    return {"text": text}


@undoable.undo()
async def undo(original: Original, ctx: Context) -> dict[str, str]:
    """Undo nothing: the revert's own machinery is what is measured."""
    return {"reverted": original.call_id}


REVERT_STAGES = ("resolve-revert", "check-revert")


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(surface, Settings(data_dir=Path(tmp)))
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "bench", "Bench")
            await rt.policies.publish("bench", {"all.cedar": "permit (principal, action, resource);"}, author="bench")
            token = (await rt.authority.issue("bench", "agent:bench", ["notes.*"], timedelta(hours=1))).token
            fresh = (f"key-{i}" for i in itertools.count())

            bare = Gateway(
                rt.surface,
                rt.store,
                rt.authority,
                stages=[s for s in rt.gateway.stages if s.name not in REVERT_STAGES],
            )

            async def call(key: str | None, action: str = "notes.add", gateway: Gateway = rt.gateway) -> str:
                outcome = await gateway.call(Call(action, {"text": "x"}, token, "bench", idempotency_key=key))
                assert outcome.ok, outcome.error
                return outcome.call.id

            async def revert() -> None:
                outcome = await rt.gateway.call(Call(REVERT_CALLS, {}, token, "bench", revert_of=originals.pop()))
                assert outcome.ok, outcome.error

            originals = [await call(None, "notes.undoable") for _ in range(n // 7 * 7 + 7)]

            modes = {
                "plain": lambda: call(None),
                "key": lambda: call(next(fresh)),
                "rate": lambda: call(None, "notes.limited"),
                "key+rate": lambda: call(next(fresh), "notes.limited"),
                "replay": lambda: call("used"),
                "no-revert": lambda: call(None, gateway=bare),
                "undoable": lambda: call(None, "notes.undoable"),
                "revert": revert,
            }
            for _ in range(200):
                await call(None)
            await call("used")
            rounds = [{name: await per_call_us(n // 7, run) for name, run in modes.items()} for _ in range(7)]
    print(f"governed write in-process, µs (median of 7 interleaved rounds, {n // 7} calls each):")
    for name in modes:
        cost = statistics.median(r[name] for r in rounds)
        added = statistics.median(r[name] - r["plain"] for r in rounds)
        share = sorted(r[name] / r["plain"] - 1 for r in rounds)
        print(
            f"  {name:9} {cost:6.0f}  {added:+5.0f} µs = {added / statistics.median(r['plain'] for r in rounds):+6.1%}"
            f" in-process (rounds {share[0]:+.0%}..{share[-1]:+.0%}), {added / HTTP_CALL_US:+5.1%} of a call over HTTP"
        )
    print("target (issue #7): idempotency and rate limit together under 10% of a governed call")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=7000)
    asyncio.run(main(parser.parse_args().calls))

"""What each part of a governed write costs, and what the idempotency, rate-limit and
revert stages add to it.

    python bench/stage_costs.py [--calls 7000]            # both parts below
    python bench/stage_costs.py --part shares             # only the shares of the call
    python bench/stage_costs.py --part modes              # only the added costs

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

**Shares** (``--part shares``): one representative write (a fresh idempotency key, a
declared rate, an event emitted by the handler, one plain permit as policy) is called
through the same stages, each wrapped to time its own work (what it does minus the stages
inside it); inside the execute stage the transaction's begin, the call-record insert, the
idempotency key's row, the audit append, the event (its outbox row, and the look-up of
webhook endpoints that would get it) and the commit are timed apart.
Each part is reported in µs of CPU time (so time this process spent descheduled on a busy
machine is not charged to a part) and as a share of the same call. (Over HTTP the same
call also pays the protocol: about 1.3 ms of server CPU in all on a quiet machine against
0.4-0.7 ms in-process, so a share of a call over HTTP is a third to a half of the share here.)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from grant_cost import per_call_us

import chamberlain.audit
import chamberlain.pipeline._stages as stages_module
from chamberlain import Context, Original, Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import REVERT_CALLS, Call, Gateway
from chamberlain.pipeline._stage import Next, Stage, chain
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


@surface.action("notes.publish", risk="write", rate="1000000/second")
async def publish(text: str, ctx: Context) -> dict[str, str]:
    """A representative write: counted against a rate, keyed, and emitting an event."""
    await ctx.emit("note.published", {"text": text}, subject="notes/1")
    return {"text": text}


surface.event("note.published", "A note was published (benchmark).")
"""The policy is one plain permit, published by ``main``: decided without Cedar, as the
default set decides writes."""

REVERT_STAGES = ("resolve-revert", "check-revert")
PARTS = [
    ("grant (authenticate + authorize)", ("authenticate", "authorize")),
    ("tenant", ("tenant",)),
    ("limits", ("limits",)),
    ("input validation", ("validate",)),
    ("policy", ("policy",)),
    ("idempotency (key check + key row)", ("idempotency", "settle")),
    ("revert stages (not a revert)", ("resolve-revert", "check-revert")),
    ("handler and result check", ("execute",)),
    ("transaction begin", ("begin",)),
    ("event: outbox row", ("emit",)),
    ("event: webhook fan-out (no endpoint)", ("webhooks",)),
    ("call record insert", ("write-record",)),
    ("audit append", ("audit",)),
    ("commit", ("commit",)),
    ("outermost stage (record on refusal)", ("record",)),
]
"""How the timed pieces add up to the parts reported."""


CLOCK = time.process_time
"""CPU time of this process (every thread): on a shared machine, time spent descheduled is
not charged to whatever piece happened to be running."""


class Clock:
    """Exclusive time per named piece: a piece's time excludes the timed pieces inside it
    (one call at a time, so a stack of open pieces is enough)."""

    def __init__(self) -> None:
        self.spent: defaultdict[str, float] = defaultdict(float)
        self._open: list[list[float]] = []  # [started, time of the pieces inside]

    async def time(self, name: str, run: Callable[[], Awaitable[Any]]) -> Any:
        frame = [CLOCK(), 0.0]
        self._open.append(frame)
        try:
            return await run()
        finally:
            self._open.pop()
            elapsed = CLOCK() - frame[0]
            self.spent[name] += elapsed - frame[1]
            if self._open:
                self._open[-1][1] += elapsed

    def wrap(self, name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            return await self.time(name, lambda: fn(*args, **kwargs))

        return timed


class _Timed:
    """A stage whose own work (minus the stages inside it) the clock notes."""

    def __init__(self, stage: Stage, clock: Clock) -> None:
        self.stage, self.name, self.clock = stage, stage.name, clock

    async def __call__(self, call: Call, next: Next) -> Any:
        return await self.clock.time(self.name, lambda: self.stage(call, next))


def _instrument(rt: Runtime, clock: Clock) -> None:
    """Time the pieces inside the execute stage (bench-only patches of this process)."""
    stages_module.write_record = clock.wrap("write-record", stages_module.write_record)
    chamberlain.audit.append = clock.wrap("audit", chamberlain.audit.append)
    rt.events.emit = clock.wrap("emit", rt.events.emit)
    rt.events.sinks[:] = [clock.wrap("webhooks", sink) for sink in rt.events.sinks]
    keys = rt.gateway.idempotency
    keys.settle = clock.wrap("settle", keys.settle)

    class TimedTransaction(stages_module.LazyTransaction):
        async def _begin(self, touches: Any = None) -> Any:
            if self._tx is not None:
                return self._tx
            return await clock.time("begin", lambda: super(TimedTransaction, self)._begin(touches))

        async def __aexit__(self, *exc: Any) -> Any:
            return await clock.time("commit", lambda: super(TimedTransaction, self).__aexit__(*exc))

    stages_module.LazyTransaction = TimedTransaction


async def shares(rt: Runtime, token: str, n: int, rounds: int) -> None:
    clock = Clock()
    run = chain([_Timed(stage, clock) for stage in rt.gateway.stages])
    _instrument(rt, clock)
    fresh = (f"share-{i}" for i in itertools.count())

    async def timed_call() -> None:
        outcome = await run(Call("notes.publish", {"text": "x"}, token, "bench", idempotency_key=next(fresh)))
        assert outcome.ok, outcome.error

    for _ in range(200):
        await timed_call()
    per_round: list[dict[str, float]] = []
    for _ in range(rounds):
        clock.spent.clear()
        start = CLOCK()
        for _ in range(n):
            await timed_call()
        total = (CLOCK() - start) / n * 1e6
        us = {k: v / n * 1e6 for k, v in clock.spent.items()}
        parts = {label: sum(us.get(k, 0.0) for k in keys) for label, keys in PARTS}
        parts["call"] = total
        per_round.append(parts)
    call_us = statistics.median(r["call"] for r in per_round)
    print(f"\nshares of one governed write, in-process, CPU time (median of {rounds} rounds of {n} calls):")
    print(f"  {'part':40} {'µs':>7} {'share of call':>14}")
    attributed = 0.0
    for label, _ in PARTS:
        v = statistics.median(r[label] for r in per_round)
        attributed += v
        print(f"  {label:40} {v:7.1f} {v / call_us:14.1%}")
    rest = call_us - attributed
    print(f"  {'not in a stage (timers, Call object)':40} {rest:7.1f} {rest / call_us:14.1%}")
    print(f"  whole call {call_us:.0f} µs of CPU with the timers")


async def main(n: int, part: str) -> None:
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
            if part != "shares":
                for _ in range(200):
                    await call(None)
                await call("used")
                rounds = [{name: await per_call_us(n // 7, run) for name, run in modes.items()} for _ in range(7)]
                print_modes(list(modes), rounds, n // 7)
            if part != "modes":  # last: it patches this process's pipeline with timers
                await shares(rt, token, n // 7, 7)


def print_modes(modes: list[str], rounds: list[dict[str, float]], n: int) -> None:
    print(f"governed write in-process, µs (median of 7 interleaved rounds, {n} calls each):")
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
    parser.add_argument("--part", choices=("both", "shares", "modes"), default="both")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.part))

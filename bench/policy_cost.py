"""What Cedar policy evaluation costs a governed call, with 10, 100 and 1,000 policies.

    python bench/policy_cost.py [--calls 2000]

In-process (no HTTP), on the real SQLite store. For each policy count two sets:

* **per-agent**: the shape a real tenant grows into, a few tenant-wide rules plus
  rules scoped to one agent and one action each (limits, hours, currencies). The
  engine evaluates only the slice whose scope can match the call, so most of them
  never run for a given call.
* **all-apply**: the worst case, every policy about every money movement, with a
  condition on the (varying) amount and on the principal, so Cedar evaluates all of
  them on every call.

It times the policy stage's own work (current set, request, decision) per call, and
the whole governed call with that set published, and compares what the policies add
against a set of one plain permit (decided without evaluating). Two denominators,
both measured in the same run: the governed call in-process (the pipeline alone, the
strictest), and the server CPU of a governed MCP tool call over HTTP
(``bench/servers/governed.py``, as ``bench/mcp_overhead.py`` runs it), which is what
an agent's call costs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from mcp_overhead import sequential, start_servers

from chamberlain import Money, Surface
from chamberlain.app import Runtime
from chamberlain.config import Settings
from chamberlain.pipeline import Call
from chamberlain.policy import principal_of
from chamberlain.tenants import create_tenant
from chamberlain.timeutil import utc_now

surface = Surface("bench")
ACTIONS = [f"ledger.op{i}" for i in range(20)]


@surface.action("payments.send", risk="money")
async def send(to: str, amount: Money, memo: str = "") -> str:
    """Send money (does nothing: the bench measures governance)."""
    return "sent"


for _name in ACTIONS:

    @surface.action(_name, risk="write")
    async def op(value: int) -> int:
        """A write action other agents' rules are about."""
        return value


BASE = """
@id("permit-agents") permit (principal, action, resource) when { principal.kind == "agent" };
@id("no-delegated-money") forbid (principal, action in Chamberlain::Action::"risk:money", resource) when { principal.delegated };
@id("large-money") @approval("large") permit (principal, action in Chamberlain::Action::"risk:money", resource)
  when { context has amount_minor && context.amount_minor > 1000000 };
"""


def per_agent(n: int) -> dict[str, str]:
    """BASE plus n-3 rules, each about one agent and one action; the bench agent is agent:a0."""
    rules = []
    for i in range(n - 3):
        action = "payments.send" if i % 2 == 0 else ACTIONS[i % len(ACTIONS)]
        condition = (
            f"context.amount_minor > {1_000_000 + i}" if action == "payments.send" else f"context.arguments.value > {1000 + i}"
        )
        rules.append(
            f'@id("r{i}") forbid (principal == Chamberlain::Principal::"agent:a{i % 250}", '
            f'action == Chamberlain::Action::"{action}", resource) when {{ {condition} }};'
        )
    return {"base.cedar": BASE, "agents.cedar": "\n".join(rules)}


def all_apply(n: int) -> dict[str, str]:
    """BASE plus n-3 rules on every money call, reading the amount and the principal: all evaluated."""
    rules = [
        f'@id("r{i}") forbid (principal, action in Chamberlain::Action::"risk:money", resource) when {{ '
        f'context.amount_minor > {10_000_000 + i} || (principal.kind == "k{i}" && context.surface == "s{i}") }};'
        for i in range(n - 3)
    ]
    return {"base.cedar": BASE, "rules.cedar": "\n".join(rules)}


async def per_call_us(n: int, fn: Callable[[], Awaitable[object]]) -> float:
    """Median of 5 batches of n/5 calls, in µs per call."""
    batches = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n // 5):
            await fn()
        batches.append((time.perf_counter() - start) / (n // 5) * 1e6)
    return statistics.median(batches)


@dataclass
class Row:
    label: str
    policies: int
    stage_us: float
    call_us: float


async def in_process(n: int) -> list[Row]:
    """Each policy set published in turn; the stage alone and the whole call, per call."""
    amounts = itertools.cycle(range(100, 100_000, 37))  # varied, as real calls are
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        rt = Runtime(surface, Settings(data_dir=Path(tmp), policy_refresh_s=3600))
        async with rt.running():
            await create_tenant(rt.store, rt.keys, "bench", "Bench")
            token = (await rt.authority.issue("bench", "agent:a0", ["*"], timedelta(hours=1))).token
            principal = principal_of(await rt.authority.verify(token))
            action = rt.surface.get("payments.send")
            assert action is not None

            def arguments() -> dict[str, object]:
                return {"to": "acct_1", "amount": {"amount_minor": next(amounts), "currency": "EUR"}, "memo": "rent"}

            async def governed() -> None:
                outcome = await rt.gateway.call(Call("payments.send", arguments(), token, "bench"))
                assert outcome.ok, outcome.error

            async def policy_stage() -> None:
                policies = await rt.policies.current("bench")
                request = rt.engine.request("bench", principal, action, arguments(), "bench", utc_now())
                assert rt.engine.decide(policies, request, action.risk).effect == "allow"

            for label, files in SETS:
                policies = await rt.policies.publish("bench", files, author="bench")
                for _ in range(200):
                    await governed()
                call_us = await per_call_us(n, governed)
                stage_us = await per_call_us(n, policy_stage)
                rows.append(Row(label, len(policies.policies), stage_us, call_us))
                print(f"  measured {label}", flush=True)
    return rows


async def mcp_call_cpu_us(n: int) -> float:
    """Server CPU per governed MCP tool call (bench/servers/governed.py, as in mcp_overhead.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_servers(Path(tmp))
        try:
            _, _, cpu_s = await sequential(servers[1], n, [])
            return cpu_s / n * 1e6
        finally:
            for server in servers:
                server.process.terminate()
                server.process.wait(timeout=10)


KINDS = (("per-agent", per_agent), ("all-apply", all_apply))
SETS = [("one permit", {"p.cedar": "permit (principal, action, resource);"})] + [
    (f"{kind} {count}", make(count)) for count in (10, 100, 1000) for kind, make in KINDS
]


async def main(n: int) -> None:
    rows = await in_process(n)
    mcp_us = await mcp_call_cpu_us(400)
    baseline = rows[0].call_us
    print(f"\ngoverned MCP tool call, server CPU: {mcp_us:.0f} µs per call (measured now, 400 sequential calls)\n")
    head = ("policy set", "policies", "stage alone µs", "call in-process µs", "added to call µs", "of in-process", "of MCP call")
    print(f"{head[0]:<16}{head[1]:>9}{head[2]:>16}{head[3]:>20}{head[4]:>18}{head[5]:>15}{head[6]:>13}")
    for r in rows:
        added = r.call_us - baseline
        print(
            f"{r.label:<16}{r.policies:>9}{r.stage_us:>16.1f}{r.call_us:>20.0f}{added:>18.0f}"
            f"{max(added, r.stage_us) / r.call_us:>15.1%}{max(added, r.stage_us) / mcp_us:>13.1%}"
        )
    print(
        "\nadded to call = governed call with this set minus with one plain permit (decided without evaluating);"
        "\nshares use the larger of 'stage alone' and 'added to call'."
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))

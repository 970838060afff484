"""Rate limits: GCRA at the boundaries, per (tenant, agent, action), refusals recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chamberlain import Surface
from chamberlain.app import Runtime
from chamberlain.errors import QuotaExceeded, RateLimited
from chamberlain.limits import MemoryLimiter, Rate
from chamberlain.pipeline import Call, Outcome
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, permit_all
from tests.pipeline.test_gateway import record


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_window_s_worth_then_one_per_interval() -> None:
    clock = Clock()
    limiter, rate = MemoryLimiter(clock), Rate.parse("10/minute")
    verdicts = [await limiter.take("k", rate) for _ in range(10)]
    assert all(v.allowed for v in verdicts) and [v.remaining for v in verdicts] == list(range(9, -1, -1))
    refused = await limiter.take("k", rate)
    assert not refused.allowed and refused.retry_after_s == pytest.approx(6.0) and refused.reset_s == pytest.approx(60.0)
    clock.now += 5.9
    assert not (await limiter.take("k", rate)).allowed
    clock.now += 0.1
    assert (await limiter.take("k", rate)).allowed, "one more after one interval"
    assert not (await limiter.take("k", rate)).allowed
    clock.now += 60
    assert (await limiter.take("k", rate)).remaining == 9, "whole again after a window"
    assert (await limiter.take("other", rate)).remaining == 9, "keys are separate"


def test_rates_are_declared_in_a_plain_form() -> None:
    assert Rate.parse("5/second") == Rate(5, 1.0) and str(Rate.parse(" 100 / day ")) == "100/day"
    for bad in ["5", "0/minute", "5/week", "-1/hour", "five/minute"]:
        with pytest.raises(ValueError, match="N/second"):
            Rate.parse(bad)
    with pytest.raises(ValueError):
        Surface("t").action("a.b", risk="write", rate="lots")


NOTES = Surface("t")
ran: list[str] = []


@NOTES.action("notes.add", risk="write", rate="3/minute")
async def add(text: str) -> str:
    ran.append(text)
    return text


@asynccontextmanager
async def notes_runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    """A runtime over NOTES with tenants acme and globex whose policies permit everything."""
    ran.clear()
    rt = make_runtime(NOTES, tmp_path)
    async with rt.running():
        for tenant in ("acme", "globex"):
            await create_tenant(rt.store, rt.keys, tenant, tenant)
            await permit_all(rt, tenant)
        yield rt


async def add_note(rt: Runtime, token: str) -> Outcome:
    return await rt.gateway.call(Call("notes.add", {"text": "x"}, token, "test"))


async def test_over_the_rate_is_refused_per_tenant_and_agent_and_recorded(tmp_path: Path) -> None:
    async with notes_runtime(tmp_path) as rt:
        noisy, quiet, neighbour = await issue(rt), await issue(rt, principal="agent:quiet"), await issue(rt, "globex")
        flood = await asyncio.gather(*(add_note(rt, noisy) for _ in range(50)))
        assert sum(o.ok for o in flood) == 3 and len(ran) == 3, "the flood spent only its own allowance"
        refused = next(o for o in flood if not o.ok)
        assert isinstance(refused.error, RateLimited) and refused.error.status == 429 and refused.error.retryable
        assert 0 < refused.error.extra["retry_after"] <= 20 and refused.error.extra["limit"] == 3
        rec = await record(rt, refused.call.id)
        assert rec["decision"] == "refused" and rec["reasons"][-1]["stage"] == "limits"
        others = [await add_note(rt, quiet) for _ in range(3)] + [await add_note(rt, neighbour) for _ in range(3)]
        assert all(o.ok for o in others), "another agent, and another tenant, have their own"
        assert others[-1].call.limit.verdict.remaining == 0


async def test_a_quota_counts_the_records_so_a_restart_does_not_reset_it(tmp_path: Path) -> None:
    surface = Surface("t")

    @surface.action("payouts.send", risk="write", quota="2/day")
    async def send(to: str) -> str:
        return to

    rt = make_runtime(surface, tmp_path)
    async with rt.running():
        await create_tenant(rt.store, rt.keys, "acme", "Acme")
        await permit_all(rt)
        agent, other = await issue(rt), await issue(rt, principal="agent:other")
        bad = await rt.gateway.call(Call("payouts.send", {"to": 5}, agent, "test"))
        assert not bad.ok, "a refused call does not count"
        sent = [await rt.gateway.call(Call("payouts.send", {"to": "a"}, agent, "test")) for _ in range(2)]
        assert all(o.ok for o in sent)
    again = make_runtime(surface, tmp_path)
    async with again.running():
        over = await again.gateway.call(Call("payouts.send", {"to": "a"}, agent, "test"))
        assert isinstance(over.error, QuotaExceeded) and over.error.status == 429 and over.error.retryable
        assert over.error.extra["limit"] == 2 and 86_000 < over.error.extra["retry_after"] <= 86_400
        assert (await again.gateway.call(Call("payouts.send", {"to": "b"}, other, "test"))).ok, "per agent"
        (declared,) = [a.describe() for a in surface]
        assert declared["limits"] == {"quota": "2/day"}

"""The Redis limiter against the real local server: the in-memory limiter's semantics,
shared by every process, and refusal (never a free pass) when Redis does not answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chamberlain.errors import LimiterUnavailable, RateLimited
from chamberlain.health import readiness
from chamberlain.limits import MemoryLimiter, Rate, RedisLimiter
from chamberlain.tenants import create_tenant
from tests.conftest import issue, make_runtime, permit_all
from tests.limits.test_limits import NOTES, add_note, ran
from tests.pipeline.test_gateway import record

REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def limiter() -> AsyncIterator[RedisLimiter]:
    """A limiter with a prefix of its own, so tests never share counters."""
    redis = RedisLimiter(REDIS, prefix=f"chamberlain-test:{uuid.uuid4().hex}:")
    yield redis
    await redis.close()


async def test_a_window_s_worth_then_refused_with_the_same_numbers_as_in_memory(limiter: RedisLimiter) -> None:
    rate = Rate.parse("10/minute")
    verdicts = [await limiter.take("k", rate) for _ in range(10)]
    assert all(v.allowed for v in verdicts) and [v.remaining for v in verdicts] == list(range(9, -1, -1))
    refused = await limiter.take("k", rate)
    assert not refused.allowed and refused.remaining == 0
    assert 5.5 < refused.retry_after_s <= 6.0 and 59.0 < refused.reset_s <= 60.0
    assert (await limiter.take("other", rate)).remaining == 9, "keys are separate"
    memory = MemoryLimiter()
    expected = [await memory.take("k", rate) for _ in range(11)]
    assert [v.allowed for v in expected] == [*(v.allowed for v in verdicts), refused.allowed]


async def test_one_interval_later_one_more_is_allowed(limiter: RedisLimiter) -> None:
    rate = Rate.parse("2/second")
    assert all([(await limiter.take("k", rate)).allowed for _ in range(2)])
    refused = await limiter.take("k", rate)
    assert not refused.allowed
    await asyncio.sleep(refused.retry_after_s + 0.05)
    assert (await limiter.take("k", rate)).allowed


async def test_processes_share_one_count(limiter: RedisLimiter) -> None:
    """Two limiters (as in two gateway processes) on one Redis: one allowance between them."""
    other = RedisLimiter(REDIS, prefix=limiter.prefix)
    try:
        rate = Rate.parse("5/minute")
        verdicts = await asyncio.gather(*(lim.take("k", rate) for lim in [limiter, other] * 10))
        assert sum(v.allowed for v in verdicts) == 5
    finally:
        await other.close()


async def test_the_key_expires_once_the_allowance_is_whole(limiter: RedisLimiter) -> None:
    await limiter.take("k", Rate.parse("1/second"))
    ttl = await limiter._redis.pttl(limiter.prefix + "k")
    assert 0 < ttl <= 1001


async def test_gateways_on_one_redis_hold_one_rate_and_refuse_when_it_is_gone(tmp_path: Path) -> None:
    shared = {"redis_url": REDIS, "redis_prefix": f"chamberlain-test:{uuid.uuid4().hex}:"}
    first, second = (make_runtime(NOTES, tmp_path / "data", **shared) for _ in range(2))
    gone = make_runtime(NOTES, tmp_path / "data", redis_url="redis://127.0.0.1:1/0")
    ran.clear()
    async with first.running(), second.running(), gone.running():
        await create_tenant(first.store, first.keys, "acme", "Acme")
        await permit_all(first, "acme")
        token = await issue(first)
        # One after the other: two SQLite writers in one thread would wait on each other.
        outcomes = [await add_note(rt, token) for rt in [first, second] * 5]
        assert sum(o.ok for o in outcomes) == 3 and len(ran) == 3, "notes.add allows 3/minute across both"
        assert all(isinstance(o.error, RateLimited) for o in outcomes if not o.ok)
        ready = await readiness(first.store, first.limiter)
        assert ready[-1].name == "redis" and all(c.ok for c in ready), ready

        refused = await add_note(gone, token)
        assert isinstance(refused.error, LimiterUnavailable) and refused.error.status == 503 and refused.error.retryable
        assert (await record(gone, refused.call.id))["decision"] == "refused" and len(ran) == 3
        checks = await readiness(gone.store, gone.limiter)
        assert checks[0].ok and checks[-1].name == "redis" and not checks[-1].ok

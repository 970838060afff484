"""GCRA in Redis: the same limiter as ``MemoryLimiter``, shared by every gateway process.

One Lua script reads the key's theoretical arrival time, decides, and writes it back,
atomically (Redis runs a script to the end before anything else), on Redis' own clock
(``TIME``), so processes on machines whose clocks differ still agree. A key expires
when its allowance is whole again, so idle agents cost nothing. Floats travel as
strings: Redis truncates Lua numbers to integers in replies.

A connection that fails (Redis restarted, failed over, or a middlebox dropped an idle
connection) is retried once, on a new connection. Without that, every connection the
pool still held would fail one call after Redis was back (each refused as
``limiter-unavailable``). A retry can at worst count a call twice, if the first attempt
ran but its reply was lost: stricter, never more lenient. A timeout is not retried: a
hung Redis refuses calls after ``timeout_s`` rather than twice that.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from ._limiter import Verdict
from ._rate import Rate

_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > burst + 0.000001 then
  return {0, '0', tostring(tat - now), tostring(ahead - burst)}
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil(next_tat - now) + 1)
return {1, tostring(math.floor((burst - ahead) / interval + 0.000001)), tostring(ahead), '0'}
"""

PREFIX = "chamberlain:rate:"
"""The default; a gateway uses its ``redis_prefix`` setting + ``rate:``."""


class RedisLimiter:
    """``redis://host:6379/0``; ``prefix`` keeps several gateways (or tests) on one server apart."""

    def __init__(self, url: str, *, prefix: str = PREFIX, timeout_s: float = 1.0) -> None:
        self.url = url
        self.prefix = prefix
        self._redis: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._script: Any = self._redis.register_script(_GCRA)

    async def take(self, key: str, rate: Rate) -> Verdict:
        interval_ms, burst_ms = rate.interval_s * 1000, rate.window_s * 1000
        allowed, remaining, reset_ms, retry_ms = await self._script(keys=[self.prefix + key], args=[interval_ms, burst_ms])
        return Verdict(bool(allowed), int(remaining), float(reset_ms) / 1000, float(retry_ms) / 1000)

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()

"""The Limiter seam and its in-process implementation (GCRA).

GCRA (the generic cell rate algorithm, as in ATM networks and Redis' ``redis-cell``)
keeps one number per key, the theoretical arrival time of the next call: a call is
allowed if it is not more than the burst allowance (a full window's worth) ahead of
that time. It is exact at the window's boundaries, needs no timers, and is one
compare-and-set per call, which is what the Redis limiter of issue #8 does atomically
in Lua. ``MemoryLimiter`` is the embedded default: one process, counters in memory
(a restart forgets them).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ._rate import Rate

__all__ = ["Limiter", "MemoryLimiter", "Verdict"]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    """Calls still allowed right now."""
    reset_s: float
    """Seconds until the allowance is whole again."""
    retry_after_s: float
    """When refused: seconds until one call would be allowed (0 when allowed)."""


class Limiter(Protocol):
    async def take(self, key: str, rate: Rate) -> Verdict:
        """Count one call against ``key`` at ``rate``, if it is allowed."""
        ...


class MemoryLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}

    async def take(self, key: str, rate: Rate) -> Verdict:
        now = self.clock()
        interval, burst = rate.interval_s, rate.window_s
        tat = max(self._tat.get(key, now), now)
        ahead = tat + interval - now  # how far ahead of now the allowance would be after this call
        if ahead > burst + 1e-9:
            return Verdict(False, 0, tat - now, ahead - burst)
        if len(self._tat) >= self.max_keys and key not in self._tat:
            self._forget_idle(now)
        self._tat[key] = tat + interval
        return Verdict(True, int((burst - ahead) / interval + 1e-9), ahead, 0.0)

    def _forget_idle(self, now: float) -> None:
        """Drop keys whose allowance is whole again (they would start afresh anyway)."""
        for key in [k for k, tat in self._tat.items() if tat <= now]:
            del self._tat[key]

"""A circuit breaker per upstream, so one that is down costs its callers a fast, honest
refusal instead of a pile of waiting requests.

Closed: calls go through, consecutive failures are counted. After ``failures`` in a row
it opens: calls are refused at once (``UpstreamUnavailable``, with ``retry_after``) for
``reset_s``. Then it is half-open: one call is let through; its success closes the
breaker, its failure opens it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import UpstreamUnavailable

__all__ = ["CircuitBreaker"]


@dataclass
class CircuitBreaker:
    name: str
    failures: int = 5
    reset_s: float = 30.0
    clock: Callable[[], float] = time.monotonic
    _failed: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _trial: bool = field(default=False, init=False)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self._opened_at >= self.reset_s else "open"

    def before(self) -> None:
        """Raise unless a call may go to the upstream now."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._trial:
            self._trial = True  # this call is the trial; others wait for its verdict
            return
        assert self._opened_at is not None
        wait = max(0.0, self.reset_s - (self.clock() - self._opened_at))
        raise UpstreamUnavailable(f"{self.name} is failing; not sending to it for now", retry_after=round(wait, 1) or 1.0)

    def success(self) -> None:
        self._failed, self._opened_at, self._trial = 0, None, False

    def failure(self) -> None:
        self._failed += 1
        if self._trial or self._failed >= self.failures:
            self._opened_at, self._trial = self.clock(), False

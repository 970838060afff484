"""The rate-limit stage: a call over its action's declared rate is refused, cheaply.

It runs right after the tenant is known and before the arguments are validated, so a
flood is turned away before it costs more than a grant check, and one tenant's flood
spends only its own allowance: limits are per (tenant, principal, action). Every call
of a limited action carries the limit's state out (``call.limit``), which REST sends as
the IETF ``RateLimit-Policy`` and ``RateLimit`` header fields and MCP in ``_meta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..actions import Surface
from ..errors import RateLimited
from ..limits import Limiter, Rate, Verdict
from ._call import Call, Outcome
from ._stage import Next

__all__ = ["CheckLimits", "LimitState"]


@dataclass(frozen=True)
class LimitState:
    name: str
    rate: Rate
    verdict: Verdict

    def headers(self) -> dict[str, str]:
        """IETF draft-ietf-httpapi-ratelimit-headers: the policy and what is left of it."""
        return {
            "RateLimit-Policy": f'"{self.name}";q={self.rate.limit};w={math.ceil(self.rate.window_s)}',
            "RateLimit": f'"{self.name}";r={self.verdict.remaining};t={math.ceil(self.verdict.reset_s)}',
        }


class CheckLimits:
    name = "limits"

    def __init__(self, surface: Surface, limiter: Limiter) -> None:
        self.surface = surface
        self.limiter = limiter

    async def __call__(self, call: Call, next: Next) -> Outcome:
        action = self.surface.get(call.action_name)
        if action is None or action.rate is None or call.grant is None:
            return await next(call)  # an unknown action is the validate stage's to refuse
        key = f"{call.grant.tenant}\x1f{call.grant.acting.id}\x1f{action.name}"
        verdict = await self.limiter.take(key, action.rate)
        call.limit = LimitState(action.name, action.rate, verdict)
        if verdict.allowed:
            return await next(call)
        call.reasons.append({"stage": self.name, "rate": str(action.rate), "retry_after_s": round(verdict.retry_after_s, 3)})
        return Outcome(
            call,
            error=RateLimited(
                f"{action.name} allows {action.rate} for each agent; try again in {math.ceil(verdict.retry_after_s)}s",
                retry_after=verdict.retry_after_s,
                limit=action.rate.limit,
                window_s=action.rate.window_s,
            ),
        )

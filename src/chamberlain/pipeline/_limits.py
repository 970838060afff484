"""The rate-limit stage: a call over its action's declared rate or quota is refused, cheaply.

It runs right after the tenant is known and before the arguments are validated, so a
flood is turned away before it costs more than a grant check, and one tenant's flood
spends only its own allowance: limits are per (tenant, principal, action). Every call
of a limited action carries the limit's state out (``call.limit``), which REST sends as
the IETF ``RateLimit-Policy`` and ``RateLimit`` header fields and MCP in ``_meta``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..actions import Action, Surface
from ..errors import QuotaExceeded, RateLimited
from ..limits import Limiter, Rate, Verdict
from ..store import Store, calls
from ..timeutil import utc_now
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

    def __init__(self, surface: Surface, limiter: Limiter, store: Store) -> None:
        self.surface = surface
        self.limiter = limiter
        self.store = store

    async def __call__(self, call: Call, next: Next) -> Outcome:
        action = self.surface.get(call.action_name)
        if action is None or call.grant is None:
            return await next(call)  # an unknown action is the validate stage's to refuse
        refusal = await self._rate(call, action) if action.rate else None
        if refusal is None and action.quota:
            refusal = await self._quota(call, action)
        if refusal is None:
            return await next(call)
        retry_after = round(refusal.extra["retry_after"], 3)
        call.reasons.append({"stage": self.name, "refused": refusal.code, "retry_after_s": retry_after})
        return Outcome(call, error=refusal)

    async def _rate(self, call: Call, action: Action) -> RateLimited | None:
        assert call.grant is not None and action.rate is not None
        key = f"{call.grant.tenant}\x1f{call.grant.acting.id}\x1f{action.name}"
        verdict = await self.limiter.take(key, action.rate)
        call.limit = LimitState(action.name, action.rate, verdict)
        if verdict.allowed:
            return None
        return RateLimited(
            f"{action.name} allows {action.rate} for each agent; try again in {math.ceil(verdict.retry_after_s)}s",
            retry_after=verdict.retry_after_s,
            limit=action.rate.limit,
            window_s=action.rate.window_s,
        )

    async def _quota(self, call: Call, action: Action) -> QuotaExceeded | None:
        """Count this agent's calls of the action that ran or were parked in the window,
        from the call records. Calls running at the same moment are not counted yet, so a
        burst can pass the quota by as many calls as run at once."""
        assert call.grant is not None and action.quota is not None
        now = utc_now()
        since = (now - timedelta(seconds=action.quota.window_s)).isoformat(timespec="microseconds")
        found = await self.store.fetch_one(
            select(func.count().label("n"), func.min(calls.c.started_at).label("oldest")).where(
                calls.c.tenant_id == call.grant.tenant,
                calls.c.action == action.name,
                calls.c.principal == call.grant.acting.id,
                calls.c.started_at >= since,
                calls.c.decision.in_(("allowed", "parked")),
            )
        )
        used = int(found["n"]) if found is not None else 0
        if used < action.quota.limit:
            return None
        assert found is not None
        frees_at = datetime.fromisoformat(found["oldest"]) + timedelta(seconds=action.quota.window_s)
        return QuotaExceeded(
            f"{action.name} allows {action.quota} for each agent, and {used} were used; "
            f"the next frees up in {math.ceil((frees_at - now).total_seconds())}s",
            retry_after=max(0.0, (frees_at - now).total_seconds()),
            limit=action.quota.limit,
            window_s=action.quota.window_s,
        )

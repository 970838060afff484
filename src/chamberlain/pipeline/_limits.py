"""The rate-limit stage: a call over its action's declared rate or quota is refused, cheaply.

It runs right after the tenant is known and before the arguments are validated, so a
flood is turned away before it costs more than a grant check, and one tenant's flood
spends only its own allowance: limits are per (tenant, principal, action). Every call
of a limited action carries the limit's state out (``call.limit``), which REST sends as
the IETF ``RateLimit-Policy`` and ``RateLimit`` header fields and MCP in ``_meta``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..actions import Surface
from ..errors import LimiterUnavailable, QuotaExceeded, RateLimited
from ..limits import Limiter, Rate, TenantLimits, Verdict
from ..store import Store, calls
from ..timeutil import utc_now
from ._call import Call, Outcome
from ._stage import Next

log = logging.getLogger("chamberlain.limits")

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

    def __init__(self, surface: Surface, limiter: Limiter, store: Store, overrides: TenantLimits | None = None) -> None:
        self.surface = surface
        self.limiter = limiter
        self.store = store
        self.overrides = overrides

    async def __call__(self, call: Call, next: Next) -> Outcome:
        action = self.surface.get(call.action_name)
        if action is None or call.grant is None:
            return await next(call)  # an unknown action is the validate stage's to refuse
        rate, quota = action.rate, action.quota
        if self.overrides is not None:
            override = (await self.overrides.of(call.grant.tenant)).get(action.name)
            if override is not None:
                rate, quota = override.rate or rate, override.quota or quota
        refusal = await self._rate(call, action.name, rate) if rate else None
        if refusal is None and quota:
            refusal = await self._quota(call, action.name, quota)
        if refusal is None:
            return await next(call)
        retry_after = round(refusal.extra["retry_after"], 3)
        call.reasons.append({"stage": self.name, "refused": refusal.code, "retry_after_s": retry_after})
        return Outcome(call, error=refusal)

    async def _rate(self, call: Call, name: str, rate: Rate) -> RateLimited | LimiterUnavailable | None:
        assert call.grant is not None
        # Counted against the grant's own principal, which the gateway vouched for: sub-agents
        # named by attenuation share it (a name any holder can invent must not be a fresh allowance).
        key = f"{call.grant.tenant}\x1f{call.grant.principal.id}\x1f{name}\x1f{rate}"  # a new rate starts afresh
        try:
            verdict = await self.limiter.take(key, rate)
        except Exception as err:  # an unreachable shared limiter refuses: never fail open
            log.warning("rate limiter unavailable for %s: %s", name, err)
            return LimiterUnavailable(f"{name} is rate-limited and its counter did not answer; retry shortly", retry_after=1.0)
        call.limit = LimitState(name, rate, verdict)
        if verdict.allowed:
            return None
        return RateLimited(
            f"{name} allows {rate} for each agent; try again in {math.ceil(verdict.retry_after_s)}s",
            retry_after=verdict.retry_after_s,
            limit=rate.limit,
            window_s=rate.window_s,
        )

    async def _quota(self, call: Call, name: str, quota: Rate) -> QuotaExceeded | None:
        """Count this agent's calls of the action that ran or were parked in the window,
        from the call records. Calls running at the same moment are not counted yet, so a
        burst can pass the quota by as many calls as run at once."""
        assert call.grant is not None
        now = utc_now()
        since = (now - timedelta(seconds=quota.window_s)).isoformat(timespec="microseconds")
        found = await self.store.fetch_one(
            select(func.count().label("n"), func.min(calls.c.started_at).label("oldest")).where(
                calls.c.tenant_id == call.grant.tenant,
                calls.c.action == name,
                calls.c.principal == call.grant.acting.id,
                calls.c.started_at >= since,
                calls.c.decision.in_(("allowed", "parked")),
            )
        )
        used = int(found["n"]) if found is not None else 0
        if used < quota.limit:
            return None
        assert found is not None
        frees_at = datetime.fromisoformat(found["oldest"]) + timedelta(seconds=quota.window_s)
        return QuotaExceeded(
            f"{name} allows {quota} for each agent, and {used} were used; "
            f"the next frees up in {math.ceil((frees_at - now).total_seconds())}s",
            retry_after=max(0.0, (frees_at - now).total_seconds()),
            limit=quota.limit,
            window_s=quota.window_s,
        )

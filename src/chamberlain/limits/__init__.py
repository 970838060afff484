"""Rate limits: declared rates per (tenant, principal, action), behind a Limiter seam."""

from ._limiter import Limiter, MemoryLimiter, Verdict
from ._overrides import Override, TenantLimits
from ._rate import Rate

__all__ = ["Limiter", "MemoryLimiter", "Override", "Rate", "TenantLimits", "Verdict"]

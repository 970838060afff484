"""Rate limits: declared rates per (tenant, principal, action), behind a Limiter seam."""

from ._limiter import Limiter, MemoryLimiter, Verdict
from ._overrides import Override, TenantLimits
from ._rate import Rate
from ._redis import RedisLimiter

__all__ = ["Limiter", "MemoryLimiter", "Override", "Rate", "RedisLimiter", "TenantLimits", "Verdict"]

"""The demo business served by ``chamberlain demo``."""

from .seed import APPROVER, TENANTS, DemoTenant, seed
from .shop import shop

__all__ = ["APPROVER", "TENANTS", "DemoTenant", "seed", "shop"]

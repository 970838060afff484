"""The demo business served by ``chamberlain demo``."""

from .seed import TENANTS, DemoTenant, seed
from .shop import shop

__all__ = ["TENANTS", "DemoTenant", "seed", "shop"]

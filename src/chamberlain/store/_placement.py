"""Where each tenant's rows live: the shared (pooled) database, or one of its own (a silo).

Hybrid tenancy, after AWS's hybrid multi-tenant pattern: tenants share the gateway's
database by default, and the operator places some in databases of their own by
configuration (``CHAMBERLAIN_TENANT_DATABASES``)::

    acme=postgresql://app@db-acme/chamberlain globex=sqlite:///var/lib/globex.db
    *=sqlite:///var/lib/chamberlain/tenants/{tenant}.db

Entries are separated by white space or commas; ``*`` places every tenant not named
otherwise, with ``{tenant}`` in its URL standing for the tenant's id. Several tenants
may share one silo URL (a database for a group of them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._scope import ALL_TENANTS

__all__ = ["Placements"]

_TENANT = re.compile(r"^(\*|[a-z0-9][a-z0-9-]{0,62})$")


@dataclass(frozen=True)
class Placements:
    """The configured silos: tenant id (or ``*``) to database URL."""

    silos: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, *, home_url: str) -> Placements:
        """``tenant=URL`` entries; a clear ``ValueError`` for anything else, at start-up
        rather than at the first call of a misplaced tenant."""
        silos: dict[str, str] = {}
        for entry in re.split(r"[\s,]+", (text or "").strip()):
            if not entry:
                continue
            tenant, sep, url = entry.partition("=")
            if not sep or not url:
                raise ValueError(f"tenant database {entry!r}: write tenant=URL (or *=URL with {{tenant}} in it)")
            if not _TENANT.match(tenant):
                raise ValueError(f"tenant database {entry!r}: {tenant!r} is not a tenant id nor *")
            if tenant in silos:
                raise ValueError(f"tenant database {entry!r}: {tenant!r} is placed twice")
            if tenant == ALL_TENANTS and "{tenant}" not in url:
                raise ValueError(f"tenant database {entry!r}: the URL for * needs {{tenant}}, or every tenant would share it")
            if url == home_url:
                raise ValueError(f"tenant database {entry!r}: that is the shared database; leave the tenant out to pool it")
            silos[tenant] = url
        return cls(silos)

    def __bool__(self) -> bool:
        return bool(self.silos)

    def url_for(self, tenant: str) -> str | None:
        """The silo database of ``tenant``, or None if it is pooled."""
        url = self.silos.get(tenant)
        if url is not None:
            return url
        template = self.silos.get(ALL_TENANTS)
        return None if template is None else template.replace("{tenant}", tenant)

    def named(self) -> list[str]:
        """The silo URLs known without asking the directory (those placed by name)."""
        return sorted({url for tenant, url in self.silos.items() if tenant != ALL_TENANTS})

"""Whose rows a unit of work may see: one tenant's, or every tenant's (the gateway's own
background work). PostgreSQL enforces it with row-level security, so a query that forgets
its tenant filter still cannot read or write another tenant's rows.

The scope is a context variable, set where the tenant becomes known (the pipeline, once
the grant is verified; read paths, for the grant's tenant) and inherited by everything
that runs below it, handlers included. SQLite has no row-level security; there the
tenant filter in every query is the only guard, as it is the first one everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ALL_TENANTS = "*"
"""The scope of the gateway's own work across tenants (sweeps, relays, the CLI's operator)."""

_scope: ContextVar[str] = ContextVar("chamberlain_tenant_scope", default=ALL_TENANTS)


def current_scope() -> str:
    return _scope.get()


@contextmanager
def tenant_scope(tenant: str) -> Iterator[None]:
    """Within this block, the store sees only ``tenant``'s rows."""
    if not tenant or tenant == ALL_TENANTS:
        raise ValueError(f"not a tenant id: {tenant!r}")
    token = _scope.set(tenant)
    try:
        yield
    finally:
        _scope.reset(token)

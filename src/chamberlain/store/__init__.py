"""Storage: the Store seam, the schema, migrations, and the SQLite and PostgreSQL backends."""

from ._base import DuplicateKey, Store, Transaction, Write, tenant_lock
from ._lazy import LazyTransaction
from ._migrate import alembic_config, current_revision, upgrade
from ._outage import is_outage
from ._placement import Placements
from ._postgres import PostgresStore
from ._routed import (
    CONTROL_TABLES,
    AmbiguousRead,
    CrossDatabase,
    TenantRouter,
    UnscopedWrite,
    database_scope,
    each_database,
    in_every_database,
    tenant_transaction,
)
from ._schema import (
    approval_votes,
    approvals,
    audit_checkpoints,
    audit_entries,
    audit_heads,
    audit_nodes,
    calls,
    carts,
    catalog_claims,
    catalog_products,
    catalog_settings,
    catalog_variants,
    console_sessions,
    console_users,
    events,
    grant_uses,
    grants,
    idempotency_keys,
    metadata,
    oauth_clients,
    policy_versions,
    quotes,
    reversible_calls,
    revocations,
    tenant_keys,
    tenant_limits,
    tenant_roles,
    tenants,
    upstream_tools,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from ._scope import ALL_TENANTS, current_scope, tenant_scope
from ._sqlite import SQLiteStore

__all__ = [
    "ALL_TENANTS",
    "CONTROL_TABLES",
    "AmbiguousRead",
    "CrossDatabase",
    "DuplicateKey",
    "LazyTransaction",
    "Placements",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "TenantRouter",
    "Transaction",
    "UnscopedWrite",
    "Write",
    "alembic_config",
    "approval_votes",
    "approvals",
    "audit_checkpoints",
    "audit_entries",
    "audit_heads",
    "audit_nodes",
    "calls",
    "carts",
    "catalog_claims",
    "catalog_products",
    "catalog_settings",
    "catalog_variants",
    "console_sessions",
    "console_users",
    "current_revision",
    "current_scope",
    "database_scope",
    "each_database",
    "events",
    "grant_uses",
    "grants",
    "idempotency_keys",
    "in_every_database",
    "is_outage",
    "make_store",
    "metadata",
    "oauth_clients",
    "open_store",
    "policy_versions",
    "quotes",
    "reversible_calls",
    "revocations",
    "tenant_keys",
    "tenant_limits",
    "tenant_lock",
    "tenant_roles",
    "tenant_scope",
    "tenant_transaction",
    "tenants",
    "upgrade",
    "upstream_tools",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
]


def make_store(url: str, *, pool_size: int = 10, tenant_databases: str | None = None) -> Store:
    """The store a database URL names: ``sqlite:///path`` (the embedded default) or
    ``postgresql://user@host:port/database``; with ``tenant_databases`` (``Placements``),
    a ``TenantRouter`` over it and the silos placed there."""
    placements = Placements.parse(tenant_databases, home_url=url)
    if placements:
        return TenantRouter(make_store(url, pool_size=pool_size), placements, lambda silo: make_store(silo, pool_size=pool_size))
    if url.startswith("sqlite:///"):
        return SQLiteStore(url)
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return PostgresStore(url, pool_size=pool_size)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://host/database")


async def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store named by ``url`` and bring its schema to head."""
    store = make_store(url)
    if migrate:
        store.migrate()
    await store.open()
    return store

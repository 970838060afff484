"""Storage: the Store seam, the schema, migrations and the SQLite backend."""

from ._base import DuplicateKey, Store, Transaction
from ._lazy import LazyTransaction
from ._migrate import alembic_config, current_revision, upgrade
from ._schema import (
    approval_votes,
    approvals,
    audit_checkpoints,
    audit_entries,
    audit_heads,
    audit_nodes,
    calls,
    events,
    grant_uses,
    grants,
    idempotency_keys,
    metadata,
    oauth_clients,
    policy_versions,
    reversible_calls,
    revocations,
    tenant_keys,
    tenant_limits,
    tenant_roles,
    tenants,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from ._sqlite import SQLiteStore

__all__ = [
    "DuplicateKey",
    "LazyTransaction",
    "SQLiteStore",
    "Store",
    "Transaction",
    "alembic_config",
    "approval_votes",
    "approvals",
    "audit_checkpoints",
    "audit_entries",
    "audit_heads",
    "audit_nodes",
    "calls",
    "current_revision",
    "events",
    "grant_uses",
    "grants",
    "idempotency_keys",
    "metadata",
    "oauth_clients",
    "open_store",
    "policy_versions",
    "reversible_calls",
    "revocations",
    "tenant_keys",
    "tenant_limits",
    "tenant_roles",
    "tenants",
    "upgrade",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
]


async def open_store(url: str, *, migrate: bool = True) -> SQLiteStore:
    """Open the store named by ``url`` and bring its schema to head."""
    if url.startswith("sqlite:///"):
        store = SQLiteStore(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}: the embedded default is sqlite:///path")
    if migrate:
        store.migrate()
    await store.open()
    return store

"""PostgreSQL row-level security on every table that holds a tenant's rows.

A transaction sees (and may write) only the rows of the tenant in its
``chamberlain.tenant`` setting, or every tenant's when that setting is ``*``; unset,
none. SQLite has no such thing: there this migration does nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from alembic import op

from chamberlain.store.rls import fence_tables, unfence_tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = (
    "approval_votes",
    "approvals",
    "audit_checkpoints",
    "audit_entries",
    "audit_heads",
    "audit_nodes",
    "calls",
    "events",
    "grant_uses",
    "grants",
    "idempotency_keys",
    "oauth_clients",
    "policy_versions",
    "reversible_calls",
    "revocations",
    "tenant_keys",
    "tenant_limits",
    "tenant_roles",
    "webhook_attempts",
    "webhook_deliveries",
    "webhook_endpoints",
)


def upgrade() -> None:
    fence_tables(op.execute, op.get_bind().dialect.name, TABLES)


def downgrade() -> None:
    unfence_tables(op.execute, op.get_bind().dialect.name, TABLES)

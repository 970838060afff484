"""The spine: tenants, their keys, issued grants and call records.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "tenant_keys",
        sa.Column("kid", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("algorithm", sa.String(32), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("retired_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_tenant_keys_tenant_id", "tenant_keys", ["tenant_id"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("on_behalf_of", sa.Text, nullable=True),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("kid", sa.Integer, nullable=False),
        sa.Column("issued_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("revocation_id", sa.Text, nullable=False),
    )
    op.create_index("ix_grants_tenant_id", "grants", ["tenant_id"])
    op.create_table(
        "calls",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=True),
        sa.Column("principal", sa.Text, nullable=True),
        sa.Column("on_behalf_of", sa.Text, nullable=True),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("action_version", sa.Integer, nullable=True),
        sa.Column("input_hash", sa.String(64), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error_type", sa.Text, nullable=True),
        sa.Column("result_hash", sa.String(64), nullable=True),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
    )
    op.create_index("ix_calls_tenant_started", "calls", ["tenant_id", "started_at"])


def downgrade() -> None:
    op.drop_table("calls")
    op.drop_table("grants")
    op.drop_table("tenant_keys")
    op.drop_table("tenants")

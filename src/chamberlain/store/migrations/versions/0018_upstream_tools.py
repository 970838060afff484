"""Governed MCP upstreams: the tool definitions an operator approved, pinned by hash.

The gateway operator's data, not a tenant's, so the table has no ``tenant_id`` and no
row-level security: every tenant is served the same upstream tools.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upstream_tools",
        sa.Column("upstream", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("definition_hash", sa.String(80), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("pending_hash", sa.String(80), nullable=True),
        sa.Column("pending_definition", sa.JSON(), nullable=True),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", sa.String(32), nullable=True),
        sa.Column("first_seen_at", sa.String(32), nullable=False),
        sa.Column("seen_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("upstream_tools")

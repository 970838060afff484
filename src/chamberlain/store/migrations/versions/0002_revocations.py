"""Revocations: Biscuit revocation ids refused from the next call on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "revocations",
        sa.Column("revocation_id", sa.Text, primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=True),
        sa.Column("revoked_at", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_revocations_tenant_id", "revocations", ["tenant_id"])


def downgrade() -> None:
    op.drop_table("revocations")

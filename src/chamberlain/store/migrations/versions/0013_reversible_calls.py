"""Reversible calls: what a compensation needs to revert a call, and the link to the revert.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reversible_calls",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("call_id", sa.String(40), primary_key=True),
        sa.Column("action", sa.String(200), nullable=False),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("arguments", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("executed_at", sa.String(32), nullable=False),
        sa.Column("revert_until", sa.String(32), nullable=True),
        sa.Column("reverted_by", sa.String(40), nullable=True),
        sa.Column("reverted_at", sa.String(32), nullable=True),
        sa.Column("erased_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_reversible_calls_principal", "reversible_calls", ["tenant_id", "principal", "executed_at"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("revert_of", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("revert_of")
    op.drop_index("ix_reversible_calls_principal", "reversible_calls")
    op.drop_table("reversible_calls")

"""The console's people and their sessions.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from chamberlain.store.rls import fence_tables, unfence_tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TABLES = ("console_users", "console_sessions")


def upgrade() -> None:
    op.create_table(
        "console_users",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("admin", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("disabled_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False, index=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("grant_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
    )
    fence_tables(op.execute, op.get_bind().dialect.name, TABLES)


def downgrade() -> None:
    unfence_tables(op.execute, op.get_bind().dialect.name, TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)

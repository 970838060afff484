"""The per-tenant audit log: entries (with their leaf hashes, and their payloads beside
the hashed bytes), stored subtree hashes of level 1 and up, heads, checkpoints.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("call_id", sa.String(40), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.Column("payload_salt", sa.LargeBinary, nullable=True),
        sa.Column("payload", sa.Text, nullable=True),
        sa.Column("payload_erased_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_audit_entries_call", "audit_entries", ["tenant_id", "call_id"])
    op.create_table(
        "audit_nodes",
        sa.Column("tenant_id", sa.String(64), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("frontier", sa.LargeBinary, nullable=False),
        sa.Column("last_leaf", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("size", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_checkpoints", "audit_heads", "audit_nodes"):
        op.drop_table(table)
    op.drop_index("ix_audit_entries_call", "audit_entries")
    op.drop_table("audit_entries")

"""Policies (versioned per tenant), tenant roles, and approvals of parked calls.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("files", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "tenant_roles",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("principal", sa.String(140), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("granted_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("call_id", sa.String(40), nullable=False, unique=True),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("action_version", sa.Integer, nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("grant_id", sa.String(40), nullable=False),
        sa.Column("chain", sa.JSON, nullable=False),
        sa.Column("arguments", sa.JSON, nullable=False),
        sa.Column("request_hash", sa.String(80), nullable=False),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("why", sa.JSON, nullable=False),
        sa.Column("required", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("surface", sa.String(16), nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("token_enc", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("deadline", sa.String(32), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=True),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
    )
    op.create_index("ix_approvals_tenant_status", "approvals", ["tenant_id", "status"])
    # The sweep of every gateway process looks across tenants, every second.
    op.create_index("ix_approvals_status_deadline", "approvals", ["status", "deadline"])
    op.create_table(
        "approval_votes",
        sa.Column("approval_id", sa.String(40), sa.ForeignKey("approvals.id"), primary_key=True),
        sa.Column("approver", sa.String(140), primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("request_hash", sa.String(80), nullable=False),
        sa.Column("decided_at", sa.String(32), nullable=False),
    )
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("approval_id", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("approval_id")
    op.drop_table("approval_votes")
    op.drop_index("ix_approvals_status_deadline", "approvals")
    op.drop_index("ix_approvals_tenant_status", "approvals")
    op.drop_table("approvals")
    op.drop_table("tenant_roles")
    op.drop_table("policy_versions")

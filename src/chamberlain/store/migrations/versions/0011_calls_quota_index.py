"""An index for quotas: a tenant's calls of one action by one agent, by time.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_quota", "calls", ["tenant_id", "action", "principal", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_quota", "calls")

"""The transactional outbox: every event, per tenant, in commit order.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text, nullable=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON, nullable=True),
        sa.Column("traceparent", sa.String(55), nullable=True),
        sa.Column("call_id", sa.String(40), nullable=True),
    )
    op.create_index("ix_events_time", "events", ["time"])


def downgrade() -> None:
    op.drop_index("ix_events_time", "events")
    op.drop_table("events")

"""Call records' hashes are ``sha256:`` and 64 hex digits: 71 characters, not 64.

SQLite never enforced the declared width; PostgreSQL does, so there it is widened.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = ("input_hash", "result_hash")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.alter_column("calls", column, type_=sa.String(80), existing_type=sa.String(64), existing_nullable=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.alter_column("calls", column, type_=sa.String(64), existing_type=sa.String(80), existing_nullable=True)

"""The catalog for shopping agents: products, variants, the seller's terms, signed claims,
quotes, and carts checked out against them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from chamberlain.store.rls import fence_tables, unfence_tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("catalog_products", "catalog_variants", "catalog_settings", "catalog_claims", "quotes", "carts")


def _tenant() -> sa.Column:
    return sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "catalog_products",
        _tenant(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "catalog_variants",
        _tenant(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("product_id", sa.String(64), nullable=False),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("availability", sa.String(16), nullable=False),
    )
    op.create_index("ix_catalog_variants_product", "catalog_variants", ["tenant_id", "product_id"])
    op.create_index("ix_catalog_variants_price", "catalog_variants", ["tenant_id", "currency", "price_minor"])
    op.create_table(
        "catalog_settings",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "catalog_claims",
        _tenant(),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("variant_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("credential", sa.JSON(), nullable=False),
        sa.Column("valid_until", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_catalog_claims_variant", "catalog_claims", ["tenant_id", "variant_id", "valid_until"])
    op.create_table(
        "quotes",
        _tenant(),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("credential", sa.JSON(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("expires_at", sa.String(32), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "carts",
        _tenant(),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("quote_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("order_id", sa.String(40), nullable=True),
        sa.Column("completed_at", sa.String(32), nullable=True),
    )
    fence_tables(op.execute, op.get_bind().dialect.name, TABLES)


def downgrade() -> None:
    unfence_tables(op.execute, op.get_bind().dialect.name, TABLES)
    op.drop_index("ix_catalog_claims_variant", "catalog_claims")
    op.drop_index("ix_catalog_variants_price", "catalog_variants")
    op.drop_index("ix_catalog_variants_product", "catalog_variants")
    for table in reversed(TABLES):
        op.drop_table(table)

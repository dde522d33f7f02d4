"""add shopify_tombstones (deleted or redacted orders/products are never resurrected)

Revision ID: 0003_ingest_tombstones
Revises: 0002
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

revision = "0003_ingest_tombstones"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "shopify_tombstones",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shopify_tombstones_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shopify_tombstones")),
        sa.UniqueConstraint(
            "shop_id",
            "resource",
            "resource_id",
            name=op.f("uq_shopify_tombstones_shop_id_resource_resource_id"),
        ),
    )
    with op.batch_alter_table("shopify_tombstones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shopify_tombstones_shop_id"), ["shop_id"], unique=False)


def downgrade():
    with op.batch_alter_table("shopify_tombstones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shopify_tombstones_shop_id"))
    op.drop_table("shopify_tombstones")

"""add order_versions (an emptied order's version keeps stale payloads from restoring its items)

Revision ID: 0004_order_versions
Revises: 0003_ingest_tombstones
Create Date: 2026-12-01

"""

import sqlalchemy as sa
from alembic import op

revision = "0004_order_versions"
down_revision = "0003_ingest_tombstones"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "order_versions",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("shopify_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_order_versions_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "order_id", name=op.f("pk_order_versions")),
    )
    with op.batch_alter_table("order_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_versions_shop_id"), ["shop_id"], unique=False)
    # Every stored order keeps the version its line items were written with.
    op.execute(
        "INSERT INTO order_versions (shop_id, order_id, shopify_updated_at) "
        "SELECT shop_id, order_id, MAX(shopify_updated_at) FROM order_line_items GROUP BY shop_id, order_id"
    )


def downgrade():
    with op.batch_alter_table("order_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_order_versions_shop_id"))
    op.drop_table("order_versions")

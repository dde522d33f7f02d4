"""add product_variants.inventory_item_updated_at (inventory_items webhooks are versioned too)

Revision ID: 0008_inventory_item_version
Revises: 0007_store_floor
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0008_inventory_item_version"
down_revision = "0007_store_floor"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inventory_item_updated_at", sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_column("inventory_item_updated_at")

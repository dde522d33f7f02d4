"""add variant_stats (order counts for tie-breaks and the bestseller fallback)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "variant_stats",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("recent_order_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_variant_stats_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "variant_id", name=op.f("pk_variant_stats")),
    )
    with op.batch_alter_table("variant_stats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_variant_stats_shop_id"), ["shop_id"], unique=False)


def downgrade():
    with op.batch_alter_table("variant_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_variant_stats_shop_id"))
    op.drop_table("variant_stats")

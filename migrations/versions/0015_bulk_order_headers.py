"""bulk_order_headers: the orders of the bulk file an initial sync is reading (ingest.bulk_orders)

A bulk orders file lists each order before its line items, and since Admin API 2026-01 the line
items may come anywhere after it. The initial sync on PostgreSQL now writes line items as the file
streams in, joining each to its order's row here (docs/ingestion.md, "The initial sync at COPY
speed"); the rows live only while a sync reads its file. Keyed (shop_id, order_id) and, like every
shop-owned table, hash-partitioned by shop_id when DB_HASH_PARTITIONS > 0 (0013). No data moves.

Revision ID: 0015_bulk_order_headers
Revises: 0014_drop_shop_id_indexes
Create Date: 2026-12-03

"""

import sqlalchemy as sa
from alembic import op

revision = "0015_bulk_order_headers"
down_revision = "0014_drop_shop_id_indexes"
branch_labels = None
depends_on = None

TABLE = "bulk_order_headers"


def _partitions(conn) -> int:
    from flask import current_app

    if conn.dialect.name != "postgresql":
        return 0
    return int(current_app.config.get("DB_HASH_PARTITIONS") or 0)


def upgrade():
    conn = op.get_bind()
    partitions = _partitions(conn)
    options = {"postgresql_partition_by": "HASH (shop_id)"} if partitions else {}
    op.create_table(
        TABLE,
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_number", sa.BigInteger(), nullable=True),
        sa.Column("order_name", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shopify_updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_new", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("tagged", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("shop_id", "order_id"),
        **options,
    )
    for remainder in range(partitions):
        conn.execute(
            sa.text(
                f'CREATE TABLE "{TABLE}_p{remainder}" PARTITION OF "{TABLE}" '
                f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {remainder})"
            )
        )


def downgrade():
    op.drop_table(TABLE)

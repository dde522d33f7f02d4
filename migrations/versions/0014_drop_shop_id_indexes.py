"""Drop the single-column shop_id indexes: every shop-owned primary key already starts with shop_id

Since 0012 each shop-owned table's primary key is (shop_id, …), and a B-tree on (shop_id, x)
serves `WHERE shop_id = ?` and the ON DELETE CASCADE from shops as well as an index on shop_id
alone. The `ix_<table>_shop_id` indexes (the models' old `index=True`) were only extra work on
every write: on order_line_items, one of four index updates per line item in the initial sync's
upsert (docs/ingestion.md, "At COPY speed"), and disk per shop. Dropping an index keeps every
row. On a hash-partitioned table (0013) the parent's index is dropped with its partitions'.
Downgrade creates them again.

Revision ID: 0014_drop_shop_id_indexes
Revises: 0013_partition_by_shop
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0014_drop_shop_id_indexes"
down_revision = "0013_partition_by_shop"
branch_labels = None
depends_on = None


def _shop_keyed_tables(conn) -> list[str]:
    """Tables (not partitions) whose primary key's first column is shop_id."""
    inspector = sa.inspect(conn)
    names = inspector.get_table_names()
    if conn.dialect.name == "postgresql":
        partitions = set(
            conn.execute(
                sa.text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relispartition"
                )
            ).scalars()
        )
        names = [n for n in names if n not in partitions]
    return sorted(
        n
        for n in names
        if (inspector.get_pk_constraint(n).get("constrained_columns") or [None])[0] == "shop_id"
    )


def upgrade():
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    for table in _shop_keyed_tables(conn):
        for index in inspector.get_indexes(table):
            if index["column_names"] == ["shop_id"] and not index.get("unique"):
                op.drop_index(index["name"], table_name=table)


def downgrade():
    conn = op.get_bind()
    inspector = sa.inspect(conn)
    for table in _shop_keyed_tables(conn):
        if not any(index["column_names"] == ["shop_id"] for index in inspector.get_indexes(table)):
            op.create_index(f"ix_{table}_shop_id", table, ["shop_id"], unique=False)

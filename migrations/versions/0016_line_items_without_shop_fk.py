"""order_line_items without the foreign key to shops: the initial sync's upsert checked it per row

The largest table, written half a million rows at a time by an initial sync, was the only one
whose writes paid for the constraint row by row: PostgreSQL runs the foreign key's check (a
`SELECT … FOR KEY SHARE` of the shop) once per inserted row, about a third of the time of the
bulk import's `INSERT … SELECT` (docs/ingestion.md, "The initial sync at COPY speed"). What the
key guaranteed is kept by the writers instead, once per batch: every writer of order_line_items
takes the shop's orders lock and locks the shop's row `FOR KEY SHARE` (ingest.upserts.hold_shop),
so a shop deleted meanwhile stops the batch, and deleting a shop first locks the shop's row
FOR UPDATE (waiting for every batch in flight) and deletes its line items explicitly
(shops.lifecycle.delete_shop_data), so no row outlives its shop. Every other shop-owned table
keeps its cascading key. No data moves; downgrade removes line items whose shop is gone (the key
would refuse them) and adds the key back.

Revision ID: 0016_line_items_without_shop_fk
Revises: 0015_bulk_order_headers
Create Date: 2026-12-03

"""

import sqlalchemy as sa
from alembic import op

revision = "0016_line_items_without_shop_fk"
down_revision = "0015_bulk_order_headers"
branch_labels = None
depends_on = None

TABLE = "order_line_items"
KEY = "fk_order_line_items_shop_id_shops"


def upgrade():
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(KEY, type_="foreignkey")


def downgrade():
    op.execute(sa.text(f"DELETE FROM {TABLE} WHERE shop_id NOT IN (SELECT id FROM shops)"))
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_foreign_key(KEY, "shops", ["shop_id"], ["id"], ondelete="CASCADE")

"""store floor: stock per location, merchant pairings (pins), product type/vendor/tags

Adds `shop_locations` and `inventory_levels` (available stock per inventory item and
location, for the POS location's stock rule), `product_pins` (the merchant's "pairs with"
products, set on the admin page or imported from Search & Discovery), and the product fields
exclusions match on (`product_variants.product_type`, `vendor`, `tags`). Existing rows keep
working unchanged: a variant without level rows follows the shop-wide stock rule, and the
new product columns fill in with the next product webhook or sync.

Revision ID: 0007_store_floor
Revises: 0006_serving_indexes
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0007_store_floor"
down_revision = "0006_serving_indexes"
branch_labels = None
depends_on = None


def _shop_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["shop_id"], ["shops.id"], name=op.f(f"fk_{table}_shop_id_shops"), ondelete="CASCADE"
    )


def _index_shop_id(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_shop_id"), ["shop_id"], unique=False)


def upgrade():
    op.create_table(
        "shop_locations",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        _shop_fk("shop_locations"),
        sa.PrimaryKeyConstraint("shop_id", "location_id", name=op.f("pk_shop_locations")),
    )
    _index_shop_id("shop_locations")
    op.create_table(
        "inventory_levels",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("inventory_item_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=False),
        sa.Column("available", sa.Integer(), nullable=True),
        sa.Column("shopify_updated_at", sa.DateTime(timezone=True), nullable=True),
        _shop_fk("inventory_levels"),
        sa.PrimaryKeyConstraint(
            "shop_id", "inventory_item_id", "location_id", name=op.f("pk_inventory_levels")
        ),
    )
    _index_shop_id("inventory_levels")
    op.create_table(
        "product_pins",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("pinned_product_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _shop_fk("product_pins"),
        sa.PrimaryKeyConstraint("shop_id", "product_id", "pinned_product_id", name=op.f("pk_product_pins")),
    )
    _index_shop_id("product_pins")
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("product_type", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("vendor", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("product_variants", schema=None) as batch_op:
        batch_op.drop_column("tags")
        batch_op.drop_column("vendor")
        batch_op.drop_column("product_type")
    for table in ("product_pins", "inventory_levels", "shop_locations"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_shop_id"))
        op.drop_table(table)

"""add the measured-impact tables: recommendations shown and added on the POS, attributed order
lines, shown recommendations whose cart became an order, and dropped events (posai_app.impact)

Revision ID: 0009_impact
Revises: 0008_inventory_item_version
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0009_impact"
down_revision = "0008_inventory_item_version"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)
MONEY = sa.Numeric(14, 2)


def _shop(table: str) -> list:
    return [
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=f"fk_{table}_shop_id_shops", ondelete="CASCADE"
        ),
    ]


def _who() -> list:
    return [
        sa.Column("location_id", sa.BigInteger(), nullable=True),
        sa.Column("staff_member_id", sa.BigInteger(), nullable=True),
    ]


def _answer() -> list:
    return [
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
    ]


def upgrade():
    op.create_table(
        "impact_shown",
        *_shop("impact_shown"),
        sa.Column("recommendation_id", sa.String(length=400), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        *_answer(),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("shown_at", TZ, nullable=False),
        *_who(),
        sa.Column("variant_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "recommendation_id", name="pk_impact_shown"),
        sa.UniqueConstraint("shop_id", "event_id", name="uq_impact_shown_shop_id_event_id"),
    )
    op.create_table(
        "impact_added",
        *_shop("impact_added"),
        sa.Column("recommendation_id", sa.String(length=400), nullable=False),
        sa.Column("variant_id", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        *_answer(),
        sa.Column("added_at", TZ, nullable=False),
        *_who(),
        sa.PrimaryKeyConstraint("shop_id", "recommendation_id", "variant_id", name="pk_impact_added"),
        sa.UniqueConstraint("shop_id", "event_id", name="uq_impact_added_shop_id_event_id"),
    )
    op.create_table(
        "impact_lines",
        *_shop("impact_lines"),
        sa.Column("line_item_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_name", sa.String(length=64), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("recommendation_id", sa.String(length=400), nullable=False),
        *_answer(),
        sa.Column("variant_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        *_who(),
        sa.Column("source_name", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("current_quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", MONEY, nullable=True),
        sa.Column("discount", MONEY, nullable=False),
        sa.Column("revenue", MONEY, nullable=False),
        sa.Column("cancelled_at", TZ, nullable=True),
        sa.Column("shopify_updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("shop_id", "line_item_id", name="pk_impact_lines"),
    )
    op.create_table(
        "impact_orders",
        *_shop("impact_orders"),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("recommendation_id", sa.String(length=400), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("hit", sa.Boolean(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("shopify_updated_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("shop_id", "order_id", "recommendation_id", name="pk_impact_orders"),
    )
    op.create_table(
        "impact_drops",
        *_shop("impact_drops"),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "day", "reason", name="pk_impact_drops"),
    )
    for table, extra in (
        ("impact_shown", ("shown_at",)),
        ("impact_added", ("added_at",)),
        ("impact_lines", ("created_at", "order_id")),
        ("impact_orders", ("created_at",)),
        ("impact_drops", ()),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_shop_id", ["shop_id"], unique=False)
            for column in extra:
                batch_op.create_index(f"ix_{table}_shop_id_{column}", ["shop_id", column], unique=False)


def downgrade():
    for table in ("impact_drops", "impact_orders", "impact_lines", "impact_added", "impact_shown"):
        op.drop_table(table)

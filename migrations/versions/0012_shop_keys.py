"""Every shop-owned table's primary key starts with shop_id: natural keys instead of surrogate ids

The rule a distributed PostgreSQL (Citus) and PostgreSQL's hash partitioning both enforce: a
primary key or unique constraint must contain the distribution (partition) key.

- product_variants (shop_id, variant_id), order_line_items (shop_id, line_item_id),
  webhook_deliveries (shop_id, webhook_id), sync_states (shop_id, resource),
  shopify_tombstones (shop_id, resource, resource_id), recommender_configs (shop_id): the unique
  constraint that was already there becomes the primary key; the surrogate `id` goes.
- evaluation_runs and challenger_switches keep their `id`, now a number within the shop:
  (shop_id, id). New numbers come from `shop_sequences`, seeded here with each shop's highest
  id, so no existing run changes its number.

Every row is kept (tests/foundation/test_migrations.py upgrades a database with data in the old
shape). Downgrade brings the surrogate ids back, numbered in key order.

Revision ID: 0012_shop_keys
Revises: 0011_pinned_shown
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0012_shop_keys"
down_revision = "0011_pinned_shown"
branch_labels = None
depends_on = None

# table -> (natural key after shop_id, the unique constraint it was)
NATURAL = {
    "product_variants": (["variant_id"], "uq_product_variants_shop_id_variant_id"),
    "order_line_items": (["line_item_id"], "uq_order_line_items_shop_id_line_item_id"),
    "webhook_deliveries": (["webhook_id"], "uq_webhook_deliveries_shop_id_webhook_id"),
    "sync_states": (["resource"], "uq_sync_states_shop_id_resource"),
    "shopify_tombstones": (["resource", "resource_id"], "uq_shopify_tombstones_shop_id_resource_resource_id"),
    "recommender_configs": ([], "uq_recommender_configs_shop_id"),
}
NUMBERED = ["evaluation_runs", "challenger_switches"]
BIG_IDS = {"product_variants", "order_line_items", "webhook_deliveries", "shopify_tombstones"}


def _is_postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.create_table(
        "shop_sequences",
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_shop_sequences_shop_id_shops"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("shop_id", "name", name=op.f("pk_shop_sequences")),
    )
    with op.batch_alter_table("shop_sequences", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shop_sequences_shop_id"), ["shop_id"], unique=False)

    for table, (rest, unique) in NATURAL.items():
        with op.batch_alter_table(table, schema=None, recreate="auto") as batch_op:
            batch_op.drop_constraint(unique, type_="unique")
            batch_op.drop_column("id")  # its primary key and (PostgreSQL) its sequence with it
            batch_op.create_primary_key(f"pk_{table}", ["shop_id", *rest])

    for table in NUMBERED:
        op.execute(
            f"INSERT INTO shop_sequences (shop_id, name, value) "
            f"SELECT shop_id, '{table}', MAX(id) FROM {table} GROUP BY shop_id"
        )
        if _is_postgres():
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT")
            op.execute(f"DROP SEQUENCE IF EXISTS {table}_id_seq")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id TYPE INTEGER")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (shop_id, id)")
        else:
            with op.batch_alter_table(table, schema=None, recreate="always") as batch_op:
                batch_op.drop_constraint(f"pk_{table}", type_="primary")
                batch_op.alter_column("id", existing_type=sa.Integer(), autoincrement=False)
                batch_op.create_primary_key(f"pk_{table}", ["shop_id", "id"])


def downgrade():
    for table in NUMBERED:
        if _is_postgres():
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}")
            op.execute(f"CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id")
            # Numbers were per shop: make them unique again, in each shop's order.
            op.execute(
                f"UPDATE {table} SET id = numbered.n FROM (SELECT shop_id, id, "
                f"row_number() OVER (ORDER BY shop_id, id) AS n FROM {table}) AS numbered "
                f"WHERE {table}.shop_id = numbered.shop_id AND {table}.id = numbered.id"
            )
            op.execute(
                f"SELECT setval('{table}_id_seq', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        else:
            conn = op.get_bind()
            keys = conn.execute(sa.text(f"SELECT shop_id, id FROM {table} ORDER BY shop_id, id")).all()
            for n, (shop_id, number) in enumerate(keys, start=1):  # negative first: no clash on the way
                conn.execute(
                    sa.text(f"UPDATE {table} SET id = :n WHERE shop_id = :shop AND id = :id"),
                    {"n": -n, "shop": shop_id, "id": number},
                )
            op.execute(f"UPDATE {table} SET id = -id")
            with op.batch_alter_table(table, schema=None, recreate="always") as batch_op:
                batch_op.drop_constraint(f"pk_{table}", type_="primary")
                batch_op.create_primary_key(f"pk_{table}", ["id"])

    for table, (rest, unique) in NATURAL.items():
        id_type = sa.BigInteger() if table in BIG_IDS and _is_postgres() else sa.Integer()
        with op.batch_alter_table(
            table, schema=None, recreate="always" if not _is_postgres() else "auto"
        ) as b:
            b.drop_constraint(f"pk_{table}", type_="primary")
            b.add_column(sa.Column("id", id_type, nullable=True))
        if _is_postgres():
            op.execute(f"CREATE SEQUENCE {table}_id_seq OWNED BY {table}.id")
            op.execute(
                f"UPDATE {table} SET id = numbered.n FROM (SELECT ctid AS row, row_number() OVER "
                f"(ORDER BY {', '.join(['shop_id', *rest])}) AS n FROM {table}) AS numbered "
                f"WHERE {table}.ctid = numbered.row"
            )
            op.execute(
                f"SELECT setval('{table}_id_seq', COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
            )
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq')")
            op.execute(f"ALTER TABLE {table} ALTER COLUMN id SET NOT NULL")
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY (id)")
        else:
            op.execute(f"UPDATE {table} SET id = rowid")
            with op.batch_alter_table(table, schema=None, recreate="always") as b:
                b.alter_column("id", existing_type=sa.Integer(), nullable=False)
                b.create_primary_key(f"pk_{table}", ["id"])
        with op.batch_alter_table(table, schema=None) as b:
            b.create_unique_constraint(unique, ["shop_id", *rest])

    with op.batch_alter_table("shop_sequences", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shop_sequences_shop_id"))
    op.drop_table("shop_sequences")

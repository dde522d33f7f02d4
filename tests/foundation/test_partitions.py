"""Keys that distribute on shop_id, proved by PostgreSQL's hash partitioning (migration 0013)."""

import re

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import OrderLineItem, Shop, shop_owned_models
from posai_app.tenancy import select_for_shop
from tests import conftest


def test_every_shop_owned_key_and_unique_constraint_starts_with_shop_id(app):
    with app.app_context():
        for model in shop_owned_models():
            table = model.__table__
            assert [c.name for c in table.primary_key.columns][0] == "shop_id", table.name
            for constraint in table.constraints:
                if isinstance(constraint, sa.UniqueConstraint):
                    assert "shop_id" in constraint.columns, (table.name, constraint.name)
            for index in table.indexes:
                if index.unique:
                    assert "shop_id" in index.columns, (table.name, index.name)


@pytest.fixture
def partitioned(app):
    if not conftest.is_postgres() or conftest.db_hash_partitions() <= 0:
        pytest.skip("the schema is partitioned on PostgreSQL only (and not with TEST_DB_HASH_PARTITIONS=0)")
    return conftest.db_hash_partitions()


def test_this_run_migrated_every_shop_owned_table_hash_partitioned_by_shop_id(app, partitioned):
    with app.app_context(), db.engine.connect() as conn:
        for model in shop_owned_models():
            name = model.__tablename__
            strategy, key = conn.execute(
                sa.text(
                    "SELECT p.partstrat, a.attname FROM pg_partitioned_table p "
                    "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
                    "WHERE p.partrelid = CAST(:t AS regclass)"
                ),
                {"t": name},
            ).one()
            parts = conn.execute(
                sa.text("SELECT count(*) FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"),
                {"t": name},
            ).scalar()
            assert (strategy, key, parts) == ("h", "shop_id", partitioned), name


def test_a_query_of_one_shop_reads_one_partition(app, partitioned):
    with app.app_context():
        shop = Shop(domain="pruned.myshopify.com", settings={})
        db.session.add(shop)
        db.session.commit()
        compiled = select_for_shop(OrderLineItem, shop.id).compile(
            db.engine, compile_kwargs={"literal_binds": True}
        )
        plan = "\n".join(db.session.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
        assert len(set(re.findall(r"order_line_items_p\d+", plan))) == 1, plan

"""The migrations create exactly the models: upgrade on empty databases, no drift."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from posai_app.extensions import db

CONTRACT_TABLES = {
    "shops",
    "product_variants",
    "order_line_items",
    "variant_neighbors",
    "recommender_configs",
    "evaluation_runs",
    "webhook_deliveries",
    "sync_states",
}


def test_upgrade_creates_every_contract_table(app):
    with app.app_context():
        tables = set(sa.inspect(db.engine).get_table_names())
    assert CONTRACT_TABLES <= tables


def test_models_and_migrations_agree(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_tenant_table_has_an_indexed_cascading_shop_id(app):
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in CONTRACT_TABLES - {"shops"}:
            columns = {c["name"]: c for c in inspector.get_columns(table)}
            assert columns["shop_id"]["nullable"] is False, table
            fks = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == ["shop_id"]]
            assert fks and fks[0]["referred_table"] == "shops", table
            assert fks[0]["options"].get("ondelete", "").upper() == "CASCADE", table
            indexed = any(ix["column_names"][0] == "shop_id" for ix in inspector.get_indexes(table))
            assert indexed, table


def test_upgrade_works_on_an_empty_sqlite_database(tmp_path):
    from flask_migrate import upgrade

    from posai_app import create_app
    from tests.helpers import TEST_SETTINGS

    fresh = create_app({**TEST_SETTINGS, "DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db", "REDIS_URL": None})
    with fresh.app_context():
        upgrade()
        assert CONTRACT_TABLES <= set(sa.inspect(db.engine).get_table_names())
        db.engine.dispose()

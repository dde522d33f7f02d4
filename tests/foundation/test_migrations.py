"""The migrations create exactly the models: upgrade on empty databases, no drift."""

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from posai_app.extensions import db

CONTRACT_TABLES = {
    "shops",
    "product_variants",
    "order_line_items",
    "variant_neighbors",
    "serving_indexes",
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


def _old_shape(rng) -> dict:
    """Neighbour rows and stats as 0005 stored them: a big shop (trimmed to its top pairs), a small
    one and one with stats only (insufficient data)."""
    base = 46_812_312_961_178
    big = [
        (base + s, base + t, int(rng.integers(1, 6)), float(rng.random()))
        for s in range(30)
        for t in rng.choice(np.arange(30, 42), size=12, replace=False).tolist()
    ]
    return {
        "big": (big, [(base + v, int(rng.integers(1, 90)), int(rng.integers(0, 30))) for v in range(42)]),
        "small": (
            [(11, 12, 2, 0.5), (12, 11, 2, 0.5), (11, 13, 1, 0.25)],
            [(11, 3, 3), (12, 2, 0), (13, 1, 1)],
        ),
        "stats_only": ([], [(21, 4, 4), (22, 1, 0)]),
    }


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_packs_existing_indexes_and_downgrade_restores_every_row(tmp_path, backend):
    """0006 on a database with data in the old shape: each shop's rows become one object that loads as
    the same index and bestsellers, every row is kept; a publish then keeps only the top pairs, and
    downgrade restores every neighbour row from the objects."""
    from flask_migrate import downgrade, upgrade

    from posai_app import create_app
    from posai_app.models import RecommenderConfig, Shop, VariantNeighbor, VariantStat
    from posai_app.reco import NeighborIndex
    from posai_app.reco.serving import rank_bestsellers
    from posai_app.serving import store
    from tests import conftest
    from tests.helpers import TEST_SETTINGS

    if backend == "sqlite":
        url, drop = f"sqlite:///{tmp_path}/old.db", None
    else:
        if not conftest.is_postgres():
            pytest.skip("PostgreSQL is not reachable")
        server = conftest._BACKENDS["pg_server"]
        name = f"{conftest._BACKENDS['pg_name']}_m6"
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)

        def drop():
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

    old = _old_shape(np.random.default_rng(6))
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": url, "REDIS_URL": None})
    try:
        with app.app_context():
            upgrade(revision="0005_run_heartbeat")
            ids = {}
            for name_ in old:
                shop = db.session.execute(
                    sa.insert(Shop.__table__).values(
                        domain=f"{name_.replace('_', '-')}.myshopify.com", settings={}
                    )
                ).inserted_primary_key[0]
                ids[name_] = shop
                rows, stats = old[name_]
                for a, b, co, score in rows:
                    db.session.execute(
                        sa.insert(VariantNeighbor.__table__).values(
                            shop_id=shop, source_variant_id=a, target_variant_id=b, co_count=co, score=score
                        )
                    )
                for v, c, r in stats:
                    db.session.execute(
                        sa.insert(VariantStat.__table__).values(
                            shop_id=shop, variant_id=v, order_count=c, recent_order_count=r
                        )
                    )
                db.session.execute(
                    sa.insert(RecommenderConfig.__table__).values(
                        shop_id=shop, metric="cosine", k=2, model_version=3, status="trained"
                    )
                )
            db.session.commit()

            upgrade()
            for name_, shop in ids.items():
                rows, stats = old[name_]
                # What the request path built from the old rows (0005's load).
                counts = {str(v): c for v, c, _ in stats}
                before = NeighborIndex.from_rows([(str(a), str(b), co, s) for a, b, co, s in rows], counts)
                loaded = store.load(shop)
                assert loaded.version[0] == 3 and loaded.metric == "cosine"
                assert loaded.bestsellers == rank_bestsellers(stats)
                if not rows:
                    assert loaded.index is None
                    continue
                assert loaded.index.ids == before.ids and loaded.index.counts == before.counts
                assert list(loaded.index.to_rows()) == list(before.to_rows())
                kept = db.session.execute(
                    sa.select(
                        VariantNeighbor.source_variant_id,
                        VariantNeighbor.target_variant_id,
                        VariantNeighbor.co_count,
                        VariantNeighbor.score,
                    ).where(VariantNeighbor.shop_id == shop)
                ).all()
                assert sorted(map(tuple, kept)) == sorted(rows)  # the previous release still reads them
                assert sorted(
                    map(
                        tuple,
                        db.session.execute(
                            sa.select(
                                VariantStat.variant_id,
                                VariantStat.order_count,
                                VariantStat.recent_order_count,
                            ).where(VariantStat.shop_id == shop)
                        ).all(),
                    )
                ) == sorted(stats)
            # Publishing (as the next training does) keeps only the pairs people see.
            rows, stats = old["big"]
            assert len(rows) > store.PAIR_ROWS
            index = store.load(ids["big"]).index
            store.save(ids["big"], index, stats)
            db.session.commit()
            kept = db.session.execute(
                sa.select(
                    VariantNeighbor.source_variant_id,
                    VariantNeighbor.target_variant_id,
                    VariantNeighbor.co_count,
                    VariantNeighbor.score,
                ).where(VariantNeighbor.shop_id == ids["big"])
            ).all()
            top = sorted(rows, key=lambda r: (-r[2], -r[3], r[0], r[1]))[: store.PAIR_ROWS]
            assert sorted(map(tuple, kept)) == sorted(top)

            db.session.remove()
            downgrade(revision="0005_run_heartbeat")
            for name_, shop in ids.items():
                restored = db.session.execute(
                    sa.text(
                        "SELECT source_variant_id, target_variant_id, co_count, score FROM variant_neighbors"
                        " WHERE shop_id = :shop"
                    ),
                    {"shop": shop},
                ).all()
                assert sorted(map(tuple, restored)) == sorted(old[name_][0])
            db.session.remove()
            db.engine.dispose()
    finally:
        if drop is not None:
            drop()

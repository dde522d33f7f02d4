"""The migrations create exactly the models: upgrade on empty databases, no drift."""

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from posai_app.extensions import db
from posai_app.partitions import include_name_for, is_partition

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
        opts = {"compare_type": True, "include_name": include_name_for(db.metadata)}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), db.metadata)
    assert diff == []


def test_every_tenant_table_has_an_indexed_cascading_shop_id(app):
    """…but order_line_items, whose shop is checked by its writers (migration 0016)."""
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in CONTRACT_TABLES - {"shops"}:
            columns = {c["name"]: c for c in inspector.get_columns(table)}
            assert columns["shop_id"]["nullable"] is False, table
            fks = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == ["shop_id"]]
            if table == "order_line_items":
                # No key (0016): its writers hold the shop's row once per batch instead
                # (ingest.upserts.hold_shop), and delete_shop_data deletes its rows.
                assert fks == [], table
            else:
                assert fks and fks[0]["referred_table"] == "shops", table
                assert fks[0]["options"].get("ondelete", "").upper() == "CASCADE", table
            # The primary key's index starts with shop_id (migration 0014 dropped the
            # single-column index it made redundant).
            assert inspector.get_pk_constraint(table)["constrained_columns"][0] == "shop_id", table
            assert not [ix for ix in inspector.get_indexes(table) if ix["column_names"] == ["shop_id"]], table


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
    from tests.helpers import TEST_SETTINGS

    url, drop = _throwaway_database(tmp_path, backend, "m6")

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
        drop()


def _throwaway_database(tmp_path, backend: str, suffix: str):
    """(url, drop): a new empty database of `backend` beside the run's, and how to drop it."""
    from tests import conftest

    if backend == "sqlite":
        return f"sqlite:///{tmp_path}/{suffix}.db", lambda: None
    if not conftest.is_postgres():
        pytest.skip("PostgreSQL is not reachable")
    server = conftest._BACKENDS["pg_server"]
    name = f"{conftest._BACKENDS['pg_name']}_{suffix}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), drop


def _rows_in_0011_shape(shops: list[int]) -> dict[str, list[dict]]:
    """Rows of every table 0012 re-keys, as 0011 stored them (surrogate ids), for shops that share
    Shopify's ids, plus two tables 0013 only partitions."""
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    rows: dict[str, list[dict]] = {name: [] for name in _REKEYED + ("variant_stats", "order_versions")}
    ids = iter(range(1, 10_000))
    for n, shop in enumerate(shops):
        for v in range(5):
            rows["product_variants"].append(
                {
                    "id": next(ids),
                    "shop_id": shop,
                    "variant_id": 40_000 + v,
                    "product_id": 7 + v % 2,
                    "product_title": f"Mug {v} of shop {n}",
                }
            )
            rows["variant_stats"].append(
                {"shop_id": shop, "variant_id": 40_000 + v, "order_count": v + n, "recent_order_count": v}
            )
        for line in range(12):
            rows["order_line_items"].append(
                {
                    "id": next(ids),
                    "shop_id": shop,
                    "line_item_id": 90_000 + line,
                    "order_id": 800 + line // 3,
                    "created_at": t0 + timedelta(hours=line),
                    "title": f"line {line}",
                    "quantity": 1 + line % 3,
                    "variant_id": 40_000 + line % 5,
                }
            )
        for order in range(4):
            rows["order_versions"].append(
                {"shop_id": shop, "order_id": 800 + order, "shopify_updated_at": t0}
            )
        for w in range(3):
            rows["webhook_deliveries"].append(
                {
                    "id": next(ids),
                    "shop_id": shop,
                    "webhook_id": f"wh-{w}",
                    "topic": "orders/create",
                    "received_at": t0,
                    "status": "processed",
                }
            )
        for resource in ("products", "orders"):
            rows["sync_states"].append(
                {
                    "id": next(ids),
                    "shop_id": shop,
                    "resource": resource,
                    "status": "done",
                    "processed_count": 12,
                }
            )
        rows["recommender_configs"].append(
            {
                "id": next(ids),
                "shop_id": shop,
                "metric": "cosine",
                "k": 2,
                "model_version": 3 + n,
                "status": "trained",
            }
        )
        rows["shopify_tombstones"].append(
            {
                "id": next(ids),
                "shop_id": shop,
                "resource": "order",
                "resource_id": 799,
                "reason": "deleted",
                "deleted_at": t0,
            }
        )
        for r in range(2 + n):  # global ids, interleaved between the shops
            rows["evaluation_runs"].append(
                {
                    "id": 10 * r + n + 1,
                    "shop_id": shop,
                    "started_at": t0 + timedelta(days=r),
                    "status": "succeeded",
                    "k": 2,
                    "chosen_metric": "cosine",
                }
            )
        rows["challenger_switches"].append(
            {
                "id": n + 1,
                "shop_id": shop,
                "switched_at": t0,
                "automatic": False,
                "from_metric": "cosine",
                "to_metric": "ease",
            }
        )
    return rows


_REKEYED = (
    "product_variants",
    "order_line_items",
    "webhook_deliveries",
    "sync_states",
    "recommender_configs",
    "shopify_tombstones",
    "evaluation_runs",
    "challenger_switches",
)
_NUMBERED_AT_0011 = {"evaluation_runs", "challenger_switches"}  # keep `id`; downgrade renumbers them
_SURROGATE = set(_REKEYED) - _NUMBERED_AT_0011  # their `id` goes


def _stored(conn, table: str, columns) -> set[tuple]:
    from posai_app.models import aware

    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)  # typed: SQLite's dates parsed
    rows = conn.execute(sa.select(*(reflected.c[c] for c in columns))).all()
    return {tuple(aware(v) if hasattr(v, "tzinfo") else v for v in row) for row in rows}


def _single_shop_id_indexes(engine) -> dict[str, list[str]]:
    """{table: names of its indexes on shop_id alone} (partitions left out)."""
    inspector = sa.inspect(engine)
    found = {}
    for table in inspector.get_table_names():
        if is_partition(table, db.metadata.tables):
            continue
        names = [ix["name"] for ix in inspector.get_indexes(table) if ix["column_names"] == ["shop_id"]]
        if names:
            found[table] = sorted(names)
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_to_shop_keys_and_partitions_keeps_every_row_and_downgrade_too(tmp_path, backend):
    """A database in 0011's shape, two shops sharing Shopify's ids: upgrading to head (on PostgreSQL
    also hash-partitioning every shop-owned table) keeps every row, each key starts with shop_id,
    runs keep their numbers and new ones continue each shop's own; downgrade keeps every row too."""
    from flask_migrate import downgrade, upgrade

    from posai_app import create_app
    from posai_app.models import EvaluationRun, Shop
    from tests.helpers import TEST_SETTINGS

    url, drop = _throwaway_database(tmp_path, backend, "m12")
    app = create_app({**TEST_SETTINGS, "DATABASE_URL": url, "REDIS_URL": None, "DB_HASH_PARTITIONS": 4})
    try:
        with app.app_context():
            upgrade(revision="0011_pinned_shown")
            with db.engine.begin() as conn:
                shops = [
                    conn.execute(
                        sa.insert(Shop.__table__).values(domain=f"s{n}.myshopify.com", settings={})
                    ).inserted_primary_key[0]
                    for n in range(2)
                ]
                old = _rows_in_0011_shape(shops)
                reflected = sa.MetaData()
                reflected.reflect(conn, only=list(old))
                for table, rows in old.items():
                    conn.execute(reflected.tables[table].insert(), rows)
            kept = {t: [c for c in rows[0] if not (c == "id" and t in _SURROGATE)] for t, rows in old.items()}
            expected = {t: {tuple(r[c] for c in kept[t]) for r in rows} for t, rows in old.items()}

            upgrade(revision="0013_partition_by_shop")
            single = _single_shop_id_indexes(db.engine)
            assert set(old) <= set(single)  # 0014 has indexes to drop
            upgrade()
            inspector = sa.inspect(db.engine)
            assert _single_shop_id_indexes(db.engine) == {}
            with db.engine.connect() as conn:
                for table in old:
                    assert _stored(conn, table, kept[table]) == expected[table], table
                    assert inspector.get_pk_constraint(table)["constrained_columns"][0] == "shop_id", table
                    if backend == "postgresql":
                        kind = conn.execute(
                            sa.text("SELECT relkind FROM pg_class WHERE relname = :t"), {"t": table}
                        ).scalar()
                        parts = conn.execute(
                            sa.text(
                                "SELECT count(*) FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)"
                            ),
                            {"t": table},
                        ).scalar()
                        assert (kind, parts) == ("p", 4), table
                assert "id" not in {c["name"] for c in inspector.get_columns("order_line_items")}
            # New runs continue each shop's own numbering, from its highest id.
            for shop in shops:
                highest = max(r["id"] for r in old["evaluation_runs"] if r["shop_id"] == shop)
                run = EvaluationRun(shop_id=shop, status="running", k=2)
                db.session.add(run)
                db.session.commit()
                assert run.id == highest + 1
                assert db.session.get(EvaluationRun, (shop, run.id)) is run
                db.session.delete(run)
                db.session.commit()

            downgrade(revision="0013_partition_by_shop")
            assert _single_shop_id_indexes(db.engine) == single
            downgrade(revision="0011_pinned_shown")
            with db.engine.connect() as conn:
                for table in old:
                    columns = [c for c in kept[table] if not (c == "id" and table in _NUMBERED_AT_0011)]
                    want = {tuple(r[c] for c in columns) for r in old[table]}
                    assert _stored(conn, table, columns) == want, table
                for table in _REKEYED:  # surrogate ids again, unique, and the insert path numbers them
                    ids = [r[0] for r in conn.execute(sa.text(f"SELECT id FROM {table}")).all()]
                    assert len(ids) == len(set(ids)) == len(old[table]) and None not in ids, table
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()

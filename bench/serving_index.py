"""The stored serving index per shop: bytes, publish time and load time at 1k, 20k and 100k variants.

    .venv/bin/python bench/serving_index.py [--variants 1000 20000 100000] [--neighbors 50]
        [--server postgresql://postgres@127.0.0.1:5432/postgres] [--no-baseline]

A throw-away database is created on the server (migrated, dropped at the end). For each size a
synthetic index (every variant with `--neighbors` neighbours, Zipf-like order counts, the
recent ones inside the 90-day window) is published for one shop through
posai_app.serving.store.publish, exactly as the train job does, then loaded as a web process
does after a retrain (store.load: one read of the shop's compact object, unpacked into the
NeighborIndex and its bestseller pool). The baseline, measured in the same run, is the
storage it replaced (migration 0005: one `variant_neighbors` row per neighbour, every row read
back into the index). Bytes are the serving tables' total size (with indexes and TOAST) after
VACUUM, the database holding only that shop; "object bytes" is the compressed object itself.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLES = ("serving_indexes", "variant_neighbors", "variant_stats")


def synthetic(n_variants: int, n_neighbors: int, seed: int = 19):
    """(index, history): an index with n_neighbors per variant and a history whose counts match."""
    import numpy as np

    from posai_app.reco import NeighborIndex
    from posai_app.reco.stats import History

    rng = np.random.default_rng(seed)
    ids = [str(10**12 + i) for i in range(n_variants)]
    counts = np.maximum(1, (5_000 / (1 + np.arange(n_variants)) ** 0.8).astype(np.int64))
    per_row = min(n_neighbors, n_variants - 1)
    # Distinct random targets per row, never the row itself.
    targets = np.empty((n_variants, per_row), dtype=np.int64)
    for i in range(n_variants):
        row: list[int] = []
        while len(row) < per_row:
            drawn = rng.integers(0, n_variants - 1, size=2 * per_row)
            drawn += drawn >= i
            row = list(dict.fromkeys(row + drawn.tolist()))[:per_row]
        targets[i] = row
    scores = np.sort(rng.random((n_variants, per_row)), axis=1)[:, ::-1]
    co = np.maximum(1, (scores * 20).astype(np.int64))
    indptr = np.arange(0, n_variants * per_row + 1, per_row, dtype=np.int64)
    index = NeighborIndex(ids, counts, indptr, targets.ravel(), scores.ravel(), co.ravel())
    # One single-item order per counted purchase, the last ones inside the 90-day window.
    lengths = np.ones(int(counts.sum()), dtype=np.int64)
    indices = np.repeat(np.arange(n_variants), counts)
    rng.shuffle(indices)
    day = 86_400 * 1_000_000
    times = np.linspace(0, 365 * day, len(lengths)).astype(np.int64)
    history = History.from_parts(ids, lengths, indices, times, has_times=True)
    return index, history


def _sizes(db) -> int:
    """Bytes of the serving tables (with their indexes and TOAST) after VACUUM.

    A hash-partitioned table (migration 0013) holds no rows itself: its size is its partitions'.
    """
    import sqlalchemy as sa

    total = 0
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in TABLES:
            conn.execute(sa.text(f"VACUUM (ANALYZE) {table}"))
            total += conn.execute(
                sa.text("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(:table)"),
                {"table": table},
            ).scalar()
    return int(total)


def _empty(db) -> int:
    import sqlalchemy as sa

    db.session.execute(sa.text("TRUNCATE " + ", ".join(TABLES)))
    db.session.commit()
    return _sizes(db)


def _load_rows(shop_id: int):
    """The request path's load before the compact index (0005): every neighbour and stats row."""
    import sqlalchemy as sa

    from posai_app.extensions import db
    from posai_app.models import VariantNeighbor, VariantStat
    from posai_app.reco import NeighborIndex
    from posai_app.reco.serving import rank_bestsellers

    stats = db.session.execute(
        sa.select(VariantStat.variant_id, VariantStat.order_count, VariantStat.recent_order_count).where(
            VariantStat.shop_id == shop_id
        )
    ).all()
    counts = {str(v): int(c) for v, c, _ in stats}
    rows = db.session.execute(
        sa.select(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        ).where(VariantNeighbor.shop_id == shop_id)
    ).all()
    index = NeighborIndex.from_rows(((str(a), str(b), co, s) for a, b, co, s in rows), counts)
    return index, rank_bestsellers(stats)


def _best_of(runs: int, function):
    from posai_app.extensions import db

    times, value = [], None
    for _ in range(runs):
        db.session.close()
        began = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - began)
    db.session.close()
    return min(times), value


def measure(app, shop_id: int, n_variants: int, n_neighbors: int, baseline: bool) -> dict:
    from posai_app.extensions import db
    from posai_app.reco.serving import order_counts, rank_bestsellers, recent_counts, variant_stats
    from posai_app.serving import store
    from posai_app.serving.rows import insert_neighbors, insert_stats

    index, history = synthetic(n_variants, n_neighbors)
    out = {"variants": n_variants, "rows": index.n_rows}
    with app.app_context():
        if baseline:  # one row per neighbour, as 0005 stored the index
            empty = _empty(db)
            began = time.perf_counter()
            insert_neighbors(shop_id, index)
            insert_stats(shop_id, order_counts(history), recent_counts(history))
            db.session.commit()
            out["rows_publish_s"] = time.perf_counter() - began
            out["rows_bytes"] = _sizes(db) - empty
            out["rows_load_s"], (old, old_best) = _best_of(2, lambda: _load_rows(shop_id))
            del old
        empty = _empty(db)
        began = time.perf_counter()
        store.publish(shop_id, index, history)
        db.session.commit()
        out["publish_s"] = time.perf_counter() - began
        out["bytes"] = _sizes(db) - empty
        out["blob_bytes"] = len(db.session.scalar(sa_select_payload(shop_id)))
        out["load_s"], loaded = _best_of(7, lambda: store.load(shop_id))
        assert list(loaded.index.to_rows()) == list(index.to_rows())
        assert loaded.bestsellers == rank_bestsellers(variant_stats(history))
        if baseline:
            assert loaded.bestsellers == old_best
    return out


def sa_select_payload(shop_id: int):
    import sqlalchemy as sa

    from posai_app.models import ServingIndexBlob

    return sa.select(ServingIndexBlob.payload).where(ServingIndexBlob.shop_id == shop_id)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", type=int, nargs="+", default=[1_000, 20_000, 100_000])
    parser.add_argument("--neighbors", type=int, default=50)
    parser.add_argument("--no-baseline", action="store_true", help="skip the one-row-per-neighbour baseline")
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from posai_app import create_app
    from posai_app.config import JOB_SETTINGS, normalize_database_url

    sys.path.insert(0, str(ROOT / "bench"))
    from train_end_to_end import _add_shop, _settings

    server = normalize_database_url(args.server)
    name = f"posai_bench_index_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    print(
        f"load: {os.getloadavg()[0]:.1f} (1-min load average on {os.cpu_count()} CPUs) at start", flush=True
    )
    try:
        # The worker's deadlines: the baseline writes and reads millions of rows in one statement.
        app = create_app({**_settings(url), **JOB_SETTINGS})
        with app.app_context():
            upgrade()
            shop_id = _add_shop("bench-index.myshopify.com")
        header = [
            "variants",
            "neighbours",
            "stored bytes",
            "bytes/variant",
            "object bytes",
            "publish s",
            "load ms",
        ]
        print("".join(f"{h:>15}" for h in ["storage", *header]))
        for n in args.variants:
            r = measure(app, shop_id, n, args.neighbors, baseline=not args.no_baseline)
            lines = []
            if "rows_bytes" in r:
                lines.append(("rows (0005)", r["rows_bytes"], "-", r["rows_publish_s"], r["rows_load_s"]))
            lines.append(("compact (0006)", r["bytes"], f"{r['blob_bytes']:,}", r["publish_s"], r["load_s"]))
            for name, stored, blob, publish, load in lines:
                per_variant = stored / r["variants"]
                print(
                    f"{name:>15}{r['variants']:>15,}{r['rows']:>15,}{stored:>15,}{per_variant:>15,.0f}"
                    f"{blob:>15}{publish:>15.2f}{load * 1000:>15.1f}",
                    flush=True,
                )
            if "rows_bytes" in r:
                print(
                    f"{'':>15}compact / rows: {r['bytes'] / r['rows_bytes']:.3f} of the bytes, "
                    f"{r['load_s'] / r['rows_load_s']:.3f} of the load time",
                    flush=True,
                )
        with app.app_context():
            from posai_app.extensions import db

            db.engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()

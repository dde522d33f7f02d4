"""Initial-sync throughput: the whole Online Retail history through the fake Shopify into PostgreSQL.

    .venv/bin/python bench/ingest_sync.py [--orders N] [--server postgresql://postgres@127.0.0.1:5432/postgres]

The fake runs in its own process (as Shopify would be elsewhere) and renders its bulk file
before the sync starts (Shopify's own work), so the figures are the app's: wall time of the
whole initial sync (products, then orders: download, spool, upsert), line items per second,
and the sync process's peak RSS; also the part of the wall time spent polling the bulk
operations (the fake answers COMPLETED at the second poll, one poll interval later) and the rate
without it. The baseline, measured in the same run on the same server:
PostgreSQL's own COPY of the very rows the sync stored into a plain table (no indexes), in
rows per second. `--orders N` syncs only the first N orders (peak RSS at two shop sizes shows
memory is flat). A throw-away database is created on the server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import secrets
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOKEN = "shpat_bench_token"
DOMAIN = "bench-shop.myshopify.com"


def _serve_fake(port_queue: multiprocessing.Queue, stop: multiprocessing.Event, limit: int | None) -> None:
    import itertools

    from tests.fakeshopify import FakeShopify, dataset
    from tests.fakeshopify.server import BulkOp, clear_cache

    fake = FakeShopify().start()
    fake.load_schema()
    # The pinned Admin API (2026-10) runs up to five bulk queries per shop at once (from 2026-01:
    # shopify.dev/docs/api/usage/bulk-operations/queries); the fake's default is the older one.
    fake.bulk_concurrency = 5
    orders = dataset.orders if limit is None else (lambda: itertools.islice(dataset.orders(), limit))
    shop = fake.add_shop(DOMAIN, TOKEN, products=dataset.products(), base_orders=orders)
    # Render the orders file now, as Shopify does before it reports COMPLETED: the sync's clock
    # then measures the app (download, spool, upsert), not the fake writing half a million lines.
    fake.count_lines(
        shop,
        BulkOp(id="warm-up", kind="orders", search=None, created_at="", polls_left=0, grouped=fake.grouped),
    )
    port_queue.put(fake.admin_base_url)
    stop.wait()
    fake.stop()
    clear_cache()  # multiprocessing children end without running atexit


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--orders", type=int, default=None, help="sync only the first N orders")
    args = parser.parse_args()

    import sqlalchemy as sa

    from posai_app.config import normalize_database_url

    server = normalize_database_url(args.server)
    name = f"posai_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)

    ports: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    server_process = multiprocessing.Process(target=_serve_fake, args=(ports, stop, args.orders), daemon=True)
    server_process.start()
    admin_base_url = ports.get(timeout=120)
    try:
        _run(url, admin_base_url)
    finally:
        stop.set()
        server_process.join(timeout=10)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _run(url: str, admin_base_url: str) -> None:
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from posai_app import create_app
    from posai_app.config import JOB_SETTINGS
    from posai_app.extensions import db
    from posai_app.ingest import sync as jobs
    from posai_app.ingest.summary import count_rows
    from posai_app.models import Shop
    from tests.helpers import TEST_SETTINGS

    app = create_app(
        {
            **TEST_SETTINGS,
            **JOB_SETTINGS,  # a sync runs in a worker, with the worker's statement limit
            "DATABASE_URL": url,
            "REDIS_URL": None,
            "SHOPIFY_ADMIN_BASE_URL": admin_base_url,
            "SHOPIFY_BULK_POLL_SECONDS": 0.2,
        }
    )
    with app.app_context():
        upgrade()
        shop = Shop(
            domain=DOMAIN,
            access_token=TOKEN,
            scopes="read_products,read_orders,read_all_orders,read_inventory",
            installed_at=datetime.now(UTC),
            settings={},
        )
        db.session.add(shop)
        db.session.commit()
        rss_before = _rss_mb()
        phases: dict[str, float] = {}
        downloads: dict[str, float] = {}

        def on_progress(state) -> None:
            phases.setdefault(state.resource, time.perf_counter())
            if state.phase == "downloading":
                downloads.setdefault(state.resource, time.perf_counter())

        started = time.perf_counter()
        jobs.sync_shop(shop.id, train=False, on_progress=on_progress)
        elapsed = time.perf_counter() - started
        counts = count_rows(shop.id)
        rss_after = _rss_mb()  # before the baseline, which holds the rows' text in memory
        baseline_rows, baseline_s, indexed_s = _copy_baseline(shop.id)
    rate = counts["line_items"] / elapsed
    copy_rate = baseline_rows / baseline_s
    products_s = phases.get("orders", started) - started
    print(f"orders={counts['orders']} line_items={counts['line_items']} variants={counts['variants']}")
    print(
        f"initial sync: {elapsed:.1f} s (products {products_s:.1f} s, orders {elapsed - products_s:.1f} s):"
        f" {rate:,.0f} line items/s end to end ({counts['line_items'] / (elapsed - products_s):,.0f}/s"
        " for the orders alone)"
    )
    # From a resource's first report to its download: polling the bulk operation while the fake
    # "renders" it (one poll interval, SHOPIFY_BULK_POLL_SECONDS), Shopify's time, not the app's.
    waiting = sum(downloads[r] - phases[r] for r in downloads)
    print(
        f"of which waiting on the bulk operations' status: {waiting:.2f} s; the app's own time"
        f" {elapsed - waiting:.1f} s, {counts['line_items'] / (elapsed - waiting):,.0f} line items/s"
    )
    print(
        f"COPY baseline, same run: {baseline_rows:,} rows into a plain table in {baseline_s:.2f} s,"
        f" {copy_rate:,.0f} rows/s; end to end is {rate / copy_rate:.1%} of it"
    )
    print(
        f"reference, same run: COPY into a table with order_line_items' indexes {indexed_s:.2f} s,"
        f" {baseline_rows / indexed_s:,.0f} rows/s;"
        f" end to end is {rate * indexed_s / baseline_rows:.1%} of it"
    )
    print(f"peak RSS of the sync process: {rss_after:.0f} MB (before the sync: {rss_before:.0f} MB)")


def _copy_baseline(shop_id: int) -> tuple[int, float, float]:
    """PostgreSQL's own COPY of the stored line items: (rows, seconds into a plain table,
    seconds into a table with order_line_items' indexes)."""
    from posai_app.extensions import db

    columns = (
        "shop_id, line_item_id, order_id, order_number, order_name, created_at, currency, product_id,"
        " variant_id, title, quantity, price, sku, is_custom_sale, cancelled_at, shopify_updated_at"
    )
    raw = db.session.connection().connection.driver_connection
    data = bytearray()
    with raw.cursor() as cursor:
        cursor.execute(f"CREATE TABLE copy_baseline AS SELECT {columns} FROM order_line_items WITH NO DATA")
        with cursor.copy(
            f"COPY (SELECT {columns} FROM order_line_items WHERE shop_id = {int(shop_id)}) TO STDOUT"
        ) as copy:
            for block in copy:
                data += block
        # The same table's indexes (no foreign key): how much of the gap is the schema's, not ours.
        cursor.execute("CREATE TABLE copy_indexed (LIKE order_line_items INCLUDING ALL)")
        raw.commit()
        seconds = {}
        for table in ("copy_baseline", "copy_indexed"):
            started = time.perf_counter()
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                view = memoryview(data)
                for at in range(0, len(view), 1 << 20):
                    copy.write(view[at : at + (1 << 20)])
            raw.commit()
            seconds[table] = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM copy_baseline")
        rows = cursor.fetchone()[0]
    return rows, seconds["copy_baseline"], seconds["copy_indexed"]


if __name__ == "__main__":
    main()

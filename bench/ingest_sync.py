"""Initial-sync throughput: the whole Online Retail history through the fake Shopify into PostgreSQL.

from posai_app.ingest.summary import count_rows
    .venv/bin/python bench/ingest_sync.py [--server postgresql://postgres@127.0.0.1:5432/postgres]

The fake runs in its own process (as Shopify would be elsewhere), so the figures are the
app's own: wall time, line items per second, and the sync process's peak RSS. A throw-away
database is created on the server and dropped afterwards.
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


def _serve_fake(port_queue: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from tests.fakeshopify import FakeShopify, dataset
    from tests.fakeshopify.server import clear_cache

    fake = FakeShopify().start()
    fake.add_shop(DOMAIN, TOKEN, products=dataset.products(), base_orders=dataset.orders)
    port_queue.put(fake.admin_base_url)
    stop.wait()
    fake.stop()
    clear_cache()  # multiprocessing children end without running atexit


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
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
    server_process = multiprocessing.Process(target=_serve_fake, args=(ports, stop), daemon=True)
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
    from posai_app.extensions import db
    from posai_app.ingest import sync as jobs
    from posai_app.ingest.summary import count_rows
    from posai_app.models import Shop
    from tests.helpers import TEST_SETTINGS

    app = create_app(
        {
            **TEST_SETTINGS,
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
        started = time.perf_counter()
        jobs.sync_shop(shop.id, train=False)
        elapsed = time.perf_counter() - started
        counts = count_rows(shop.id)
    print(f"orders={counts['orders']} line_items={counts['line_items']} variants={counts['variants']}")
    print(f"initial sync: {elapsed:.1f} s, {counts['line_items'] / elapsed:,.0f} line items/s")
    print(f"peak RSS of the sync process: {_rss_mb():.0f} MB (before the sync: {rss_before:.0f} MB)")


if __name__ == "__main__":
    main()

"""Webhook endpoint throughput: concurrent signed deliveries to gunicorn on loopback.

    .venv/bin/python bench/webhook_throughput.py [--orders 2000] [--concurrency 16] [--workers 2]

Every `orders/create` webhook is delivered twice (a redelivery with the same webhook id)
in shuffled order by `--concurrency` threads. Then the queued jobs are drained and the
database checked: exactly one row set per order, none lost, none doubled. Needs PostgreSQL
and Redis (a throw-away database and Redis DB number 15, emptied before and after).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SECRET = "bench-webhook-secret-0123456789abcdef0123456789"
DOMAIN = "bench-shop.myshopify.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    import sqlalchemy as sa
    from cryptography.fernet import Fernet
    from redis import Redis

    from posai_app.config import normalize_database_url

    server = normalize_database_url(args.server)
    name = f"posai_bench_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    redis = Redis.from_url(args.redis)
    redis.flushdb()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": args.redis,
        "SECRET_KEY": secrets.token_hex(32),
        "SHOPIFY_API_KEY": "bench-api-key",
        "SHOPIFY_API_SECRET": SECRET,
        "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_URL": "http://127.0.0.1",
    }
    os.environ.update({k: v for k, v in env.items() if k not in os.environ or k in env})
    gunicorn = None
    try:
        app = _prepare(env)
        port = _free_port()
        gunicorn = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "-w",
                str(args.workers),
                "--threads",
                "4",
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "posai_app:create_app()",
            ],
            env=env,
        )
        _wait_for(port)
        _baseline(f"http://127.0.0.1:{port}/healthz", 2 * args.orders, args.concurrency)
        _deliver(app, f"http://127.0.0.1:{port}/webhooks", args.orders, args.concurrency)
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(timeout=10)
        redis.flushdb()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(env: dict[str, str]):
    from datetime import UTC, datetime

    from flask_migrate import upgrade

    from posai_app import create_app
    from posai_app.extensions import db
    from posai_app.models import Shop

    app = create_app({"DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"]})
    with app.app_context():
        upgrade()
        db.session.add(
            Shop(domain=DOMAIN, access_token="shpat_bench", installed_at=datetime.now(UTC), settings={})
        )
        db.session.commit()
    return app


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not start")


def _timed(url: str, items: list, concurrency: int, post: bool) -> tuple[float, list[float], dict]:
    """Send every item (body, headers) with `concurrency` threads: (seconds, sorted latencies, statuses)."""
    import threading

    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    local = threading.local()

    def send(item):
        body, headers = item
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(timeout=10.0)
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers) if post else client.get(url)
        latencies.append(time.perf_counter() - started)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(send, items))
    latencies.sort()
    return time.perf_counter() - started, latencies, statuses


def _report(what: str, count: int, elapsed: float, latencies: list[float], statuses: dict) -> None:
    print(f"{what}: {count} requests in {elapsed:.1f} s: {count / elapsed:,.0f} req/s; statuses {statuses}")
    print(
        f"  latency p50 {statistics.median(latencies) * 1000:.0f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


def _baseline(url: str, count: int, concurrency: int) -> None:
    """The same client against GET /healthz: what this machine's gunicorn does with no work."""
    elapsed, latencies, statuses = _timed(url, [(None, None)] * count, concurrency, post=False)
    _report("baseline GET /healthz", count, elapsed, latencies, statuses)


def _deliver(app, url: str, order_count: int, concurrency: int) -> None:
    import sqlalchemy as sa
    from rq import SimpleWorker

    from posai_app.demo import payloads as shopify_shape
    from posai_app.extensions import db
    from posai_app.models import OrderLineItem, WebhookDelivery
    from posai_app.queue import get_redis
    from tests.fakeshopify import FakeShopify

    fake = FakeShopify()
    orders = []
    for order in shopify_shape.iter_order_payloads():
        orders.append(order)
        if len(orders) >= order_count:
            break
    deliveries = []
    for i, order in enumerate(orders):
        body, headers = fake.webhook("orders/create", DOMAIN, order, SECRET, webhook_id=f"bench-{i}")
        deliveries += [(body, headers), (body, headers)]
    random.Random(7).shuffle(deliveries)
    elapsed, latencies, statuses = _timed(url, deliveries, concurrency, post=True)
    _report(f"webhooks ({order_count} orders x2)", len(deliveries), elapsed, latencies, statuses)
    import logging

    logging.getLogger("rq.worker").setLevel(logging.WARNING)
    with app.app_context():
        worker = SimpleWorker(["high"], connection=get_redis())
        drain_started = time.perf_counter()
        worker.work(burst=True)
        drained = time.perf_counter() - drain_started
        stored_orders = db.session.scalar(sa.select(sa.func.count(sa.distinct(OrderLineItem.order_id))))
        stored_lines = db.session.scalar(sa.select(sa.func.count()).select_from(OrderLineItem))
        recorded = db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery))
        processed = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "processed")
        )
    expected_lines = sum(len(o["line_items"]) for o in orders)
    print(f"jobs drained in {drained:.1f} s by one worker")
    print(
        f"orders stored {stored_orders}/{order_count}, line items {stored_lines}/{expected_lines}, "
        f"deliveries recorded {recorded}, processed {processed}"
    )
    ok = (
        stored_orders == order_count
        and stored_lines == expected_lines
        and recorded == processed == order_count
    )
    print("no lost or duplicated orders" if ok else "MISMATCH")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

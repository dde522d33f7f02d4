"""Webhook endpoint throughput: concurrent signed deliveries to gunicorn on loopback.

    .venv/bin/python bench/webhook_throughput.py [--orders 2000] [--concurrency 16] [--workers 2]
        [--threads 4] [--backlog 20000]

Every `orders/create` webhook is delivered twice (a redelivery with the same webhook id)
in shuffled order by `--concurrency` threads. Then one in-process worker runs what was queued
(with the webhook inbox, posai_app/webhooks/inbox.py: the drain jobs, which apply the inbox in
batches) and the database is checked: exactly one row set per order, none lost, none doubled. Needs PostgreSQL
and Redis (a throw-away database and Redis DB number 15, emptied before and after).

The baseline is GET /healthz with the same client, gunicorn and concurrency in the same run;
every figure is printed with its ratio to it, and with the CPU the gunicorn workers spent per
request (read from /proc: the load client shares the machine, and on 2 cores it caps the
request rate before the server does). `--backlog N` first fills the "high" queue with N jobs
nobody runs (the workers are stopped, as during an outage), delivers with them waiting, and
reads the queue's and the inbox's depth and age from GET /metrics; those jobs are removed
before the drain.
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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.local_stack import free_port  # noqa: E402

SECRET = "bench-webhook-secret-0123456789abcdef0123456789"
DOMAIN = "bench-shop.myshopify.com"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (1: sync)")
    parser.add_argument("--backlog", type=int, default=0, help="jobs waiting in 'high' during delivery")
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
        port = free_port()
        gunicorn = subprocess.Popen(
            [
                os.path.join(os.path.dirname(sys.executable), "gunicorn"),
                "-w",
                str(args.workers),
                "--threads",
                str(args.threads),
                "-b",
                f"127.0.0.1:{port}",
                "--log-level",
                "warning",
                "posai_app:create_app()",
            ],
            env=env,
            stdout=subprocess.DEVNULL,  # the access log: written (its cost is real), not shown
        )
        _wait_for(port)
        base = f"http://127.0.0.1:{port}"
        print(f"gunicorn: {args.workers} workers x {args.threads} threads; concurrency {args.concurrency}")
        _timed(f"{base}/healthz", [(None, None)] * 200, args.concurrency, post=False)  # warm up
        baseline = _baseline(gunicorn.pid, f"{base}/healthz", 2 * args.orders, args.concurrency)
        if args.backlog:
            _fill_backlog(app, args.backlog)
        _deliver(app, gunicorn.pid, base, args.orders, args.concurrency, baseline, args.backlog)
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
    """Send every item (body, headers) with `concurrency` keep-alive connections (bench.http_load:
    requests encoded before the clock starts): (seconds, sorted latencies, statuses)."""
    from urllib.parse import urlsplit

    from bench import http_load

    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    requests = [
        http_load.encode("POST", host, parts.path, body, headers)
        if post
        else http_load.encode("GET", host, parts.path)
        for body, headers in items
    ]
    result = http_load.run(parts.hostname, parts.port, requests, concurrency)
    return result.elapsed, result.latencies, result.statuses


def _cpu_seconds(pid: int) -> float:
    """CPU (user + system) spent so far by gunicorn's master and its live workers."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _report(
    what: str,
    count: int,
    elapsed: float,
    latencies: list[float],
    statuses: dict,
    cpu: float,
    baseline: dict | None = None,
) -> dict:
    figures = {
        "rate": count / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "cpu_ms": cpu / count * 1000,
    }
    print(f"{what}: {count} requests in {elapsed:.1f} s: {figures['rate']:,.0f} req/s; statuses {statuses}")
    print(
        f"  latency p50 {figures['p50']:.0f} ms, p99 {figures['p99']:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; gunicorn CPU {figures['cpu_ms']:.2f} ms per request"
    )
    if baseline:
        print(
            f"  vs the /healthz baseline of this run: rate x{figures['rate'] / baseline['rate']:.2f}, "
            f"p99 x{figures['p99'] / baseline['p99']:.1f}, "
            f"CPU per request x{figures['cpu_ms'] / baseline['cpu_ms']:.1f}"
        )
    return figures


def _baseline(pid: int, url: str, count: int, concurrency: int) -> dict:
    """The same client against GET /healthz: what this machine's gunicorn does with no work."""
    cpu = _cpu_seconds(pid)
    elapsed, latencies, statuses = _timed(url, [(None, None)] * count, concurrency, post=False)
    return _report("baseline GET /healthz", count, elapsed, latencies, statuses, _cpu_seconds(pid) - cpu)


BACKLOG_JOB = "posai_app.webhooks.handlers.process_webhook"


def _fill_backlog(app, count: int) -> None:
    """`count` jobs waiting at the head of "high" (nobody runs them: the workers are stopped)."""
    from rq import Queue

    from posai_app.queue import get_redis

    with app.app_context():
        queue = Queue("high", connection=get_redis())
        filler = {"id": 1, "note": "x" * 6000}  # about a real order's size in Redis
        for start in range(0, count, 1000):
            with queue.connection.pipeline() as pipe:
                for i in range(start, min(count, start + 1000)):
                    queue.enqueue(
                        BACKLOG_JOB,
                        0,
                        None,
                        "bench/backlog",
                        filler,
                        job_id=f"backlog-{i}",
                        description="backlog filler",
                        pipeline=pipe,
                    )
                pipe.execute()
        print(f"backlog: {queue.count} jobs waiting in 'high' before the deliveries")


def _queue_metrics(base: str) -> str:
    import httpx

    text = httpx.get(f"{base}/metrics", timeout=5.0).text
    lines = [
        line
        for line in text.splitlines()
        if (
            line.startswith(("posai_queue_depth{queue", "posai_queue_oldest_age_seconds{queue"))
            and 'queue="high"' in line
        )
        or line.startswith("posai_webhook_inbox")
    ]
    return "; ".join(lines)


def _drop_backlog(app, count: int) -> None:
    """Remove the filler jobs (the head of the queue) so that the drain runs only the deliveries."""
    from rq import Queue

    from posai_app.queue import get_redis

    with app.app_context():
        queue = Queue("high", connection=get_redis())
        head = [job_id.decode() for job_id in queue.connection.lrange(queue.key, 0, count - 1)]
        assert all(job_id.startswith("backlog-") for job_id in head), "the backlog is not at the head"
        with queue.connection.pipeline() as pipe:
            pipe.ltrim(queue.key, count, -1)
            for start in range(0, count, 1000):
                pipe.delete(*(f"rq:job:{job_id}" for job_id in head[start : start + 1000]))
            pipe.execute()


def _deliver(
    app, pid: int, base: str, order_count: int, concurrency: int, baseline: dict, backlog: int
) -> None:
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
    print(f"mean body {statistics.mean(len(body) for body, _ in deliveries) / 1024:.1f} KiB")
    cpu = _cpu_seconds(pid)
    elapsed, latencies, statuses = _timed(f"{base}/webhooks", deliveries, concurrency, post=True)
    what = f"webhooks ({order_count} orders x2{f', {backlog} jobs backlogged' if backlog else ''})"
    _report(what, len(deliveries), elapsed, latencies, statuses, _cpu_seconds(pid) - cpu, baseline)
    print(f"  /metrics: {_queue_metrics(base)}")
    if backlog:
        _drop_backlog(app, backlog)
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

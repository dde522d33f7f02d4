"""POST /api/events under load, with zero loss checked in the database, against /healthz; and the
recommendation API with and without its recommendationId, in the same run.

    .venv/bin/python bench/events_throughput.py [--duration 10] [--connections 8] [--batch-sizes 2,10,50]

Builds a throw-away PostgreSQL database with a synthetic shop (bench/synthetic.py: 3,000 orders
over 400 variants, trained for real), serves the app with gunicorn as in production
(gunicorn.conf.py: 2 sync workers) on loopback, and drives it from `--connections` client threads
(one keep-alive-less HTTP connection each, like gunicorn's sync workers want) with valid session
tokens:

1. baseline: GET /healthz (trivial JSON) with the same client, for `--duration` seconds;
2. per batch size: batches of `shown` events (every event a new recommendation, its items the
   trained index's top suggestions for a real cart, its id minted with the server's key) and
   `added` events (about 30 % of them); events/s, p50/p99 per batch; then every event sent must
   be one row of impact_shown / impact_added (none lost, none doubled), and a resend of 100 of
   the batches must be answered as duplicates and add no row;
3. POST /api/recommendations on two servers, one with the recommendationId and one with the
   id switched off in-process (this script's `app_without_ids`, nothing in the app), measured
   in turn (A B A B) so machine load falls on both, with the CPU time the workers spent per
   request (/proc: hardly moved by other processes' load); then the same comparison in-process in CPU
   time (`recommend_for_cart` in alternating blocks: far less exposed to the machine's load than
   wall-clock HTTP figures), and the cost of minting and verifying one id.

Prints the 1-, 5- and 15-minute load averages before and after (the machine is shared).
env: BENCH_SERVER_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
     BENCH_REDIS_URL (default redis://127.0.0.1:6379/13; "" for in-process cache signals).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import timeit
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_stack import free_port, latency_figures, wait_for_healthz  # noqa: E402

DOMAIN = "bench-events.myshopify.com"
API_KEY = "bench-api-key"
API_SECRET = "bench-api-secret-0123456789abcdef0123456789abcdef"  # noqa: S105
ORDERS, VARIANTS, MEAN_ITEMS = 3000, 400, 3.0
ADDED_SHARE = 0.3
LOCATIONS, STAFF = (71, 72, 73), tuple(range(5501, 5513))


def app_without_ids():
    """The app with the answer's recommendationId switched off: this benchmark's comparison only."""
    from posai_app import create_app
    from posai_app.api import recommendations

    recommendations._answer_id = lambda *args: None
    return create_app()


def _gunicorn(env: dict[str, str], app_spec: str, threads: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 (our gunicorn, our arguments)
        [str(Path(sys.executable).parent / "gunicorn"), "--config", str(ROOT / "gunicorn.conf.py"), app_spec],
        env={
            **env,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WEB_CONCURRENCY": "2",
            "GUNICORN_LOG_LEVEL": "warning",
        },
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    wait_for_healthz(port)
    return server, port


def _prepare(env: dict[str, str]):
    """Migrate, add the shop, its catalog and history, train; (app, shop id, carts, suggestions)."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from bench.synthetic import baskets
    from posai_app import create_app
    from posai_app.extensions import db
    from posai_app.models import OrderLineItem, ProductVariant, Shop, VariantNeighbor
    from posai_app.tenancy import of_shop
    from posai_app.training.jobs import train_shop

    app = create_app({"DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": env["REDIS_URL"]})
    start = datetime.now(UTC) - timedelta(days=365)
    with app.app_context():
        upgrade()
        shop = Shop(domain=DOMAIN, access_token="shpat_bench", installed_at=datetime.now(UTC), settings={})
        db.session.add(shop)
        db.session.flush()
        db.session.add_all(
            ProductVariant(
                shop_id=shop.id,
                variant_id=100_000 + v,
                product_id=10_000 + v,
                product_title=f"Item {v}",
                variant_title="Default Title",
                price=Decimal("4.50"),
                inventory_quantity=50,
                inventory_tracked=True,
            )
            for v in range(VARIANTS)
        )
        carts = []
        rows = []
        for i, items in baskets(ORDERS, VARIANTS, MEAN_ITEMS, seed=7):
            variants = [100_000 + v for v in items]
            if len(variants) >= 3:
                carts.append(variants[:3])
            rows += [
                {
                    "shop_id": shop.id,
                    "line_item_id": i * 100 + n,
                    "order_id": 1_000_000 + i,
                    "created_at": start + timedelta(minutes=150 * i),
                    "variant_id": vid,
                    "product_id": vid - 90_000,
                    "title": f"Item {vid - 100_000}",
                    "quantity": 1,
                    "price": Decimal("4.50"),
                }
                for n, vid in enumerate(variants)
            ]
        db.session.execute(sa.insert(OrderLineItem), rows)
        db.session.commit()
        shop_id = shop.id
        train_shop(shop_id, "bench")
        neighbours: dict[int, list[int]] = {}
        for source, target in db.session.execute(
            sa.select(VariantNeighbor.source_variant_id, VariantNeighbor.target_variant_id)
            .where(of_shop(VariantNeighbor, shop_id))
            .order_by(VariantNeighbor.source_variant_id, VariantNeighbor.score.desc())
        ):
            neighbours.setdefault(source, []).append(target)
    suggestions = {c[0]: [t for t in neighbours.get(c[0], []) if t not in c][:2] for c in carts}
    carts = [c for c in carts if suggestions[c[0]]]
    return app, shop_id, carts, suggestions


class Events:
    """Realistic events, each shown one on a new recommendation (minted with the server's key)."""

    def __init__(self, app, shop_id: int, carts, suggestions, seed: int):
        from posai_app.impact import ids

        self.key = ids.signing_key(app.config)
        self.mint = ids.mint
        self.shop_id = shop_id
        self.carts, self.suggestions = carts, suggestions
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def batch(self, size: int) -> list[dict]:
        with self.lock:
            out: list[dict] = []
            while len(out) < size:
                cart = self.rng.choice(self.carts)
                items = self.suggestions[cart[0]]
                rec = self.mint(self.key, self.shop_id, "cosine", 1, cart, items)
                where = {
                    "locationId": str(self.rng.choice(LOCATIONS)),
                    "staffMemberId": str(self.rng.choice(STAFF)),
                }
                at = datetime.now(UTC).isoformat()
                out.append(
                    {
                        "id": uuid.uuid4().hex,
                        "type": "shown",
                        "recommendationId": rec,
                        "variantIds": [str(v) for v in items],
                        "at": at,
                        **where,
                    }
                )
                if len(out) < size and self.rng.random() < ADDED_SHARE:
                    out.append(
                        {
                            "id": uuid.uuid4().hex,
                            "type": "added",
                            "recommendationId": rec,
                            "variantId": str(items[0]),
                            "at": at,
                            **where,
                        }
                    )
            return out


class Client:
    """`connections` threads, each sending what `next_request` gives until the time is up."""

    def __init__(self, port: int, connections: int):
        self.port, self.connections = port, connections

    def run(self, seconds: float, next_request, on_answer=None) -> dict:
        deadline = time.perf_counter() + seconds
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def work() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            mine: list[float] = []
            while time.perf_counter() < deadline:
                method, path, body, headers = next_request()
                started = time.perf_counter()
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                mine.append(time.perf_counter() - started)
                with lock:
                    statuses[response.status] += 1
                    if on_answer is not None:
                        on_answer(body, response.status, answer)
            conn.close()
            with lock:
                latencies.extend(mine)

        started = time.perf_counter()
        with ThreadPoolExecutor(self.connections) as pool:
            for future in [pool.submit(work) for _ in range(self.connections)]:
                future.result()
        return latency_figures(latencies, time.perf_counter() - started, statuses)


def _rows(app, shop_id: int) -> tuple[int, int, int]:
    """(impact_shown rows, impact_added rows, distinct event ids over both)."""
    import sqlalchemy as sa

    from posai_app.extensions import db
    from posai_app.models import ImpactAdded, ImpactShown
    from posai_app.tenancy import of_shop

    with app.app_context():
        counts = [
            db.session.scalar(sa.select(sa.func.count()).select_from(m).where(of_shop(m, shop_id)))
            for m in (ImpactShown, ImpactAdded)
        ]
        distinct = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(sa.column("event_id")))).select_from(
                sa.union_all(
                    sa.select(ImpactShown.event_id).where(of_shop(ImpactShown, shop_id)),
                    sa.select(ImpactAdded.event_id).where(of_shop(ImpactAdded, shop_id)),
                ).subquery()
            )
        )
        db.session.remove()
    return counts[0], counts[1], distinct


def _events_phase(app, shop_id, port, connections, seconds, size, events: Events, tokens) -> dict:
    token = itertools.cycle(tokens)
    sent: list[bytes] = []
    totals = Counter()
    before = _rows(app, shop_id)

    def next_request():
        body = json.dumps({"events": events.batch(size)}).encode()
        headers = {"Authorization": f"Bearer {next(token)}", "Content-Type": "application/json"}
        return "POST", "/api/events", body, headers

    def on_answer(body, status, answer):
        sent.append(body)
        totals["sent"] += len(json.loads(body)["events"])
        if status == 200:
            result = json.loads(answer)
            totals["accepted"] += result["accepted"]
            totals["duplicates"] += result["duplicates"]
            totals["rejected"] += len(result["rejected"])

    result = Client(port, connections).run(seconds, next_request, on_answer)
    after = _rows(app, shop_id)
    # Idempotence: resent batches (as the POS resends after a lost answer) add nothing.
    resent = Counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body in random.Random(size).sample(sent, min(100, len(sent))):
        headers = {"Authorization": f"Bearer {next(token)}", "Content-Type": "application/json"}
        conn.request("POST", "/api/events", body=body, headers=headers)
        answer = json.loads(conn.getresponse().read())
        resent["events"] += len(json.loads(body)["events"])
        resent["duplicates"] += answer["duplicates"]
        resent["accepted"] += answer["accepted"]
    conn.close()
    final = _rows(app, shop_id)
    new_rows = (after[0] - before[0]) + (after[1] - before[1])
    return {
        **result,
        "size": size,
        "events": totals["sent"],
        "events_per_s": totals["sent"] / result["elapsed"],
        "accepted": totals["accepted"],
        "duplicates": totals["duplicates"],
        "rejected": totals["rejected"],
        "new_rows": new_rows,
        "distinct_ids_ok": after[2] == after[0] + after[1],
        "resent": dict(resent),
        "resend_added_rows": (final[0] + final[1]) - (after[0] + after[1]),
    }


def _workers_cpu(master: int) -> float:
    """CPU seconds (user + system) used so far by the gunicorn master's workers (Linux /proc)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == master:  # ppid; utime and stime follow at 11 and 12
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _mint_cost(app, shop_id: int, carts, suggestions) -> tuple[float, float]:
    from posai_app.impact import ids

    key = ids.signing_key(app.config)
    cart = carts[0]
    items = suggestions[cart[0]]
    loops = 20_000
    mint = timeit.timeit(lambda: ids.mint(key, shop_id, "cosine", 1, cart, items), number=loops) / loops
    token = ids.mint(key, shop_id, "cosine", 1, cart, items)
    verify = timeit.timeit(lambda: ids.verify(key, token, shop_id), number=loops) / loops
    return mint * 1e6, verify * 1e6


def _in_process_reco(app, shop_id: int, carts, rounds: int = 10, calls: int = 300) -> dict[str, list[float]]:
    """CPU microseconds per recommend_for_cart (the API's whole answer, warm caches), with the id
    and with it switched off, in alternating blocks."""
    from posai_app.api import recommendations

    minting = recommendations._answer_id
    out: dict[str, list[float]] = {"with id": [], "without id": []}

    def answer_all() -> None:
        for cart in carts[:calls]:
            with app.test_request_context():  # a request's own caches start empty, as in the API
                recommendations.recommend_for_cart(shop_id, cart)

    answer_all()  # warm the process's catalog and index caches
    try:
        for _ in range(rounds):
            for arm, answer_id in (("with id", minting), ("without id", lambda *args: None)):
                recommendations._answer_id = answer_id
                started = time.thread_time()  # CPU time: other processes' load does not count
                answer_all()
                out[arm].append((time.thread_time() - started) / calls * 1e6)
    finally:
        recommendations._answer_id = minting
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--batch-sizes", default="2,10,50", help="events per batch, one phase each")
    parser.add_argument("--reco-rounds", type=int, default=4, help="A/B rounds of the recommendation API")
    parser.add_argument(
        "--threads", type=int, default=1, help="GUNICORN_THREADS (1: sync workers, as deployed; >1: gthread)"
    )
    args = parser.parse_args()

    import sqlalchemy as sa
    from cryptography.fernet import Fernet

    from posai_app.config import normalize_database_url
    from tests.helpers import make_session_token

    load_before = os.getloadavg()
    server_url = normalize_database_url(
        os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    name = f"posai_bench_events_{secrets.token_hex(3)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    env = {
        **os.environ,
        "DATABASE_URL": sa.engine.make_url(server_url)
        .set(database=name)
        .render_as_string(hide_password=False),
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        "SECRET_KEY": secrets.token_hex(32),
        "SHOPIFY_API_KEY": API_KEY,
        "SHOPIFY_API_SECRET": API_SECRET,
        "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_URL": "http://127.0.0.1",
    }
    os.environ.update(env)
    servers: list[subprocess.Popen] = []
    try:
        app, shop_id, carts, suggestions = _prepare(env)
        tokens = [
            make_session_token(app.config, DOMAIN, exp=int(time.time()) + 3600, sub=str(s))
            for s in range(200)
        ]
        server, port = _gunicorn(env, "posai_app:create_app()", args.threads)
        servers.append(server)
        plain, plain_port = _gunicorn(env, "bench.events_throughput:app_without_ids()", args.threads)
        servers.append(plain)
        client = Client(port, args.connections)

        client.run(2, lambda: ("GET", "/healthz", None, {}))  # warm-up
        baseline = client.run(args.duration, lambda: ("GET", "/healthz", None, {}))
        events = Events(app, shop_id, carts, suggestions, seed=11)
        warm = _events_phase(app, shop_id, port, args.connections, 2, 10, events, tokens)
        assert warm["new_rows"] == warm["events"], warm
        phases = [
            _events_phase(app, shop_id, port, args.connections, args.duration, int(size), events, tokens)
            for size in args.batch_sizes.split(",")
        ]

        cart_bodies = itertools.cycle(
            [json.dumps({"cartVariantIds": [str(v) for v in c]}).encode() for c in carts[:2000]]
        )
        reco_tokens = itertools.cycle(tokens)

        def reco_request():
            headers = {"Authorization": f"Bearer {next(reco_tokens)}", "Content-Type": "application/json"}
            return "POST", "/api/recommendations", next(cart_bodies), headers

        arms: dict[str, list[dict]] = {"with id": [], "without id": []}
        for arm_port in (port, plain_port):  # warm both servers' caches
            Client(arm_port, args.connections).run(3, reco_request)
        for _ in range(args.reco_rounds):
            for arm, arm_port in (("with id", port), ("without id", plain_port)):
                master = {port: server.pid, plain_port: plain.pid}[arm_port]
                cpu = _workers_cpu(master)
                run = Client(arm_port, args.connections).run(args.duration, reco_request)
                run["cpu_ms"] = (_workers_cpu(master) - cpu) / run["requests"] * 1000
                arms[arm].append(run)
        mint_us, verify_us = _mint_cost(app, shop_id, carts, suggestions)
        in_process = _in_process_reco(app, shop_id, carts)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    load_after = os.getloadavg()

    print(
        f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after (1/5/15 min; shared machine)"
    )
    print(
        f"gunicorn.conf.py (2 workers x {args.threads} thread(s)), PostgreSQL, "
        f"cache signals {env['REDIS_URL'] or 'in-process'}; "
        f"client: {args.connections} threads, {args.duration:g} s per measurement"
    )
    print(f"{'measurement':<34}{'req/s':>9}{'events/s':>10}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    print(
        f"{'GET /healthz (baseline)':<34}{baseline['rps']:>9.0f}{'':>10}{baseline['p50_ms']:>9.2f}"
        f"{baseline['p99_ms']:>9.2f}  {baseline['statuses']}"
    )
    lossless = True
    for p in phases:
        label = f"POST /api/events, {p['size']} per batch"
        print(
            f"{label:<34}{p['rps']:>9.0f}{p['events_per_s']:>10.0f}"
            f"{p['p50_ms']:>9.2f}{p['p99_ms']:>9.2f}  {p['statuses']}"
        )
    for p in phases:
        ok = (
            p["events"] == p["accepted"] == p["new_rows"]
            and p["duplicates"] == p["rejected"] == 0
            and p["distinct_ids_ok"]
            and p["resent"]["duplicates"] == p["resent"]["events"]
            and p["resend_added_rows"] == 0
        )
        lossless &= ok
        print(
            f"  {p['size']:>2} per batch: {p['events']} events sent, {p['accepted']} accepted, "
            f"{p['new_rows']} rows written, {p['duplicates']} duplicates, {p['rejected']} rejected; "
            f"resent {p['resent']['events']} events: {p['resent']['duplicates']} duplicates, "
            f"{p['resend_added_rows']} rows added -> {'no loss, no double' if ok else 'MISMATCH'}"
        )
    for arm, runs in arms.items():
        rps = [r["rps"] for r in runs]
        p50 = statistics.mean(r["p50_ms"] for r in runs)
        p99 = statistics.mean(r["p99_ms"] for r in runs)
        cpu = sum(r["cpu_ms"] * r["requests"] for r in runs) / sum(r["requests"] for r in runs)
        print(
            f"{'POST /api/recommendations, ' + arm:<34}{statistics.mean(rps):>9.0f}{'':>10}"
            f"{p50:>9.2f}{p99:>9.2f}"
            f"  rounds {' '.join(f'{x:.0f}' for x in rps)} req/s; workers' CPU {cpu:.2f} ms per request"
        )
    with_id = statistics.mean(r["rps"] for r in arms["with id"])
    without = statistics.mean(r["rps"] for r in arms["without id"])
    spread = max(
        (max(r["rps"] for r in runs) - min(r["rps"] for r in runs)) / statistics.mean(r["rps"] for r in runs)
        for runs in arms.values()
    )
    print(
        f"recommendations with / without the id: {with_id / without:.3f} of the throughput "
        f"({(with_id / without - 1) * 100:+.1f} %; rounds of one arm differ by up to {spread * 100:.0f} %); "
        f"minting one id costs {mint_us:.1f} us, verifying one {verify_us:.1f} us (in-process)"
    )
    median = {arm: statistics.median(v) for arm, v in in_process.items()}
    print(
        f"in-process recommend_for_cart, CPU time, median of {len(in_process['with id'])} blocks: "
        f"{median['with id']:.0f} us with the id, {median['without id']:.0f} us without "
        f"({median['with id'] - median['without id']:+.0f} us, "
        f"{(median['with id'] / median['without id'] - 1) * 100:+.1f} %)"
    )
    best = max(p["events_per_s"] for p in phases)
    rates = ", ".join("{:.0f} at {}/batch".format(p["events_per_s"], p["size"]) for p in phases)
    print(
        f"events/s: {rates} "
        f"(target >= 1000; best {best:.0f}); {'zero loss' if lossless else 'LOSS OR DOUBLE COUNT'}"
    )
    if not lossless:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

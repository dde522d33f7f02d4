"""A thousand-shop simulation: 10 -> 100 -> 1,000 shops on one deployment, measured at each step.

    .venv/bin/python bench/thousand_shops.py [--steps 10,100,1000] [--largest 20000] [--seconds 8]
        [--webhooks 300] [--check-shops 10] [--real-installs 1000] [--install-workers 2]

(the defaults: about 13 minutes on a quiet 2-core machine, every shop installed for real;
docs/operations.md has the runs' figures). The stack is the production one on loopback: two web
processes (two gunicorns from gunicorn.conf.py, one worker each, so each process's memory and
caches are its own) and two RQ workers (worker.py) share one throw-away PostgreSQL database and
Redis DB 10 (BENCH_REDIS_URL), both emptied before and dropped / flushed after; a sentinel key
makes the run stop as void if another process flushes that Redis DB meanwhile. Shopify is
tests/fakeshopify (OAuth token exchange, Admin GraphQL against Shopify's published schema, bulk
operations), served from this process.

Shops: a long-tailed population (Pareto, shape 1.1: most shops a few dozen orders, a few with
thousands; the largest `--largest` orders, about 3 line items each; sizes are drawn once for the
largest step and every step keeps the shops of the one before). Each step:

1. install: the new shops' first POS request (a session token the fake Shopify signs for) goes
   through the real install path: token exchange against the fake, install_shop, the sync job
   (bulk products + orders from the fake) on the workers, then the training job it queues (the
   queues' waits sampled from Redis every 0.1 s). At most `--real-installs` new shops per step
   go this way (by default all of them); any others are SQL copies of installed shops of about
   their size (every shop-owned row, the serving index object included, under a fresh shop id
   and domain), for a quicker run on a loaded machine;
2. retrains asked for a tenth of the shops at once (at most BURST_MAX): each one's wait in the
   train queue, from the request to its run's start, against one training's run time;
3. POS traffic: carts from each shop's own history, shops drawn in proportion to size^0.5
   (big shops get more traffic, every shop gets some), one client per web process, with
   GET /healthz from the same clients right before as the baseline; two passes (shops met for
   the first time, then the same mix again); each web process's resident memory (VmRSS of its
   gunicorn worker) and cache hit rates (GET /metrics);
4. webhooks: signed orders/create deliveries to random shops (new orders in the shop's own
   pattern), against GET /healthz with the same client; drained by the workers, then every
   order is checked in the database (none lost, none doubled);
5. caches across processes: for a sample of warm shops, both web processes answer a cart,
   the top suggestion is archived through a signed products/update webhook (worker -> commit
   -> change signal), and both must stop suggesting it; a retrain queued for half of those
   shops must publish a new version, and both processes must then answer as a fresh process
   (this one, caches emptied) answers the same cart;
6. the database: pg_database_size and the largest tables, per shop.

Web memory is bounded by the per-process caches' LRUs (byte budgets in posai_app/api/serving.py
and posai_app/api/catalog.py); the run fails if a web
process's RSS at the last step exceeds its RSS at the first step by more than --memory-bound MB,
if an order is lost or doubled, or if a process answers wrongly after a change.
env: BENCH_SERVER_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres),
     BENCH_REDIS_URL (default redis://127.0.0.1:6379/10), BENCH_KEEP_LOGS=1 (keep the four
     processes' logs).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.local_stack import free_port, latency_figures, wait_for_healthz  # noqa: E402

MEAN_ITEMS = 3.0
PARETO_SHAPE = 1.1
SMALLEST = 25  # orders of the smallest shops
CLIENT_THREADS = 8
BURST_MAX = 50  # retrains asked at once (a tenth of the shops, at most this many)
SENTINEL = "posai:bench:thousand-shops"
# Not copied into clones: deliveries and impact events are traffic, not the installed state.
CLONE_SKIP = {
    "webhook_deliveries",
    "impact_shown",
    "impact_added",
    "impact_lines",
    "impact_orders",
    "impact_drops",
}
GrantedShop = None  # the fake's shop class, made once the tests' packages are importable


# ------------------------------------------------------------------ the web processes' app


def web_app():
    """The gunicorn app: the real create_app(), its Shopify calls sent to the bench's fake."""
    from posai_app import create_app

    return create_app({"SHOPIFY_ADMIN_BASE_URL": os.environ["BENCH_SHOPIFY_ADMIN_BASE_URL"]})


# ------------------------------------------------------------------ shops


@dataclass
class ShopSpec:
    index: int
    orders: int
    variants: int
    data: int | None = None  # a clone's: the index of the shop whose catalog and history it copies

    @property
    def domain(self) -> str:
        return f"sim-{self.index:04d}.myshopify.com"

    @property
    def source(self) -> int:
        return self.index if self.data is None else self.data

    def code(self, v: int) -> str:
        return f"S{self.source}V{v}"


@dataclass
class ShopState:
    spec: ShopSpec
    shop_id: int | None = None
    carts: list[list[int]] = field(default_factory=list)
    extra_orders: int = 0  # orders/create webhooks sent to it (numbered after its history)


def population(count: int, largest: int, seed: int = 1) -> list[ShopSpec]:
    """`count` shops, Pareto-sized, the largest `largest` orders; shop 0 is the largest, so the
    first step already holds a big shop, and every prefix keeps a long tail."""
    rng = np.random.default_rng(seed)
    sizes = np.minimum(SMALLEST * (1 + rng.pareto(PARETO_SHAPE, size=count)), largest).astype(int)
    sizes[0] = largest
    specs = []
    for i, orders in enumerate(sizes.tolist()):
        variants = int(min(4000, max(12, 8 + orders // 4)))
        specs.append(ShopSpec(i, int(orders), variants))
    return specs


def history(spec: ShopSpec):
    """(items per order, variant index per line item) of the shop's synthetic history."""
    from bench.synthetic import fast_line_items

    return fast_line_items(spec.orders, spec.variants, MEAN_ITEMS, seed=1000 + spec.source)


def _order(spec: ShopSpec, number: int, items: list[int], when: datetime) -> dict:
    from posai_app.demo.payloads import Row, order_payload

    at = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [Row(f"{spec.index}-{number}", at, spec.code(v), f"Item {v}", "4.50", 1) for v in items]
    return order_payload(rows)


def products(spec: ShopSpec) -> list[dict]:
    from posai_app.demo.payloads import product_payload

    return [
        product_payload(spec.code(v), f"Item {v}", "4.50", "2025-01-01T00:00:00Z")
        for v in range(spec.variants)
    ]


def orders_of(spec: ShopSpec):
    """The history as a generator of REST-shaped orders (the fake streams it, keeps no copy)."""

    def iterate():
        sizes, draws = history(spec)
        start = datetime(2025, 1, 1, tzinfo=UTC)
        step = timedelta(days=300) / max(spec.orders, 1)
        at = 0
        for i, size in enumerate(sizes.tolist()):
            items = list(dict.fromkeys(draws[at : at + size].tolist()))
            at += size
            yield _order(spec, i, items, start + step * i)

    return iterate


def carts_of(spec: ShopSpec, limit: int = 40) -> list[list[int]]:
    from posai_app.demo.payloads import variant_id_for

    sizes, draws = history(spec)
    out, at = [], 0
    for size in sizes.tolist():
        items = list(dict.fromkeys(draws[at : at + size].tolist()))
        at += size
        if len(items) >= 2:
            out.append([variant_id_for(spec.code(v)) for v in items[:3]])
        if len(out) >= limit:
            break
    return out or [[variant_id_for(spec.code(0))]]


def _granted_shop_class():
    from tests.fakeshopify.server import FakeShop

    class GrantedShop(FakeShop):
        """A fake shop whose Admin API token is whatever the fake's OAuth granted it last (the
        token exchange of the real install path), not one fixed in advance."""

        oauth = None

        @property
        def token(self) -> str | None:
            grant = self.oauth.grants.get(self.domain) if self.oauth is not None else None
            return grant.access_token if grant is not None else None

        @token.setter
        def token(self, _value: str) -> None:
            pass

    return GrantedShop


# ------------------------------------------------------------------ processes


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Stack:
    """Two gunicorns (one worker each) and two worker.py processes."""

    def __init__(self, env: dict[str, str], settings: dict, logdir: str):
        self.env, self.settings, self.logdir = env, settings, logdir
        self.webs: list[tuple[subprocess.Popen, int]] = []
        self.workers: list[subprocess.Popen] = []

    def start(self) -> None:
        for n in range(2):
            port = free_port()
            log = open(os.path.join(self.logdir, f"web{n}.log"), "w")  # noqa: SIM115 (kept for the process)
            proc = subprocess.Popen(  # noqa: S603 (our gunicorn, our arguments)
                [
                    str(Path(sys.executable).parent / "gunicorn"),
                    "--config",
                    str(ROOT / "gunicorn.conf.py"),
                    "bench.thousand_shops:web_app()",
                ],
                env={
                    **self.env,
                    "HOST": "127.0.0.1",
                    "PORT": str(port),
                    "WEB_CONCURRENCY": "1",
                    "GUNICORN_LOG_LEVEL": "warning",
                    "GUNICORN_TIMEOUT": "60",
                },
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
            self.webs.append((proc, port))
        self.workers = [self._worker(f"worker{n}") for n in range(2)]
        for _, port in self.webs:
            wait_for_healthz(port)

    def _worker(self, name: str) -> subprocess.Popen:
        code = (
            "import json, worker; "
            f"worker.run_worker(settings=json.loads({json.dumps(json.dumps(self.settings))}))"
        )
        log = open(os.path.join(self.logdir, f"{name}.log"), "a")  # noqa: SIM115 (kept for the process)
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def extra_workers(self, count: int) -> list[subprocess.Popen]:
        """Workers that join for an install burst only (see --install-workers)."""
        extra = [self._worker(f"extra{n}") for n in range(count)]
        self.workers += extra
        return extra

    def retire(self, workers: list[subprocess.Popen]) -> None:
        """Warm stop (SIGTERM: the job at hand finishes first), as a scale-down does."""
        for proc in workers:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in workers:
            proc.wait(timeout=120)
            self.workers.remove(proc)

    @property
    def ports(self) -> list[int]:
        return [port for _, port in self.webs]

    def web_pids(self) -> list[int]:
        out = []
        for proc, _ in self.webs:
            kids = _children(proc.pid)
            out.append(kids[0] if kids else proc.pid)
        return out

    def stop(self) -> None:
        for proc in [p for p, _ in self.webs] + self.workers:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in [p for p, _ in self.webs] + self.workers:
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


# ------------------------------------------------------------------ load


def run_load(
    ports: list[int],
    seconds: float | None,
    next_request,
    count: int | None = None,
    threads: int = CLIENT_THREADS,
) -> dict:
    """`threads` client threads until the time is up or `count` requests are sent: req/s, p50,
    p99, statuses. With as many threads as web processes, thread n talks to process n only (one
    request in flight per process: the latency is the answer's, not a queue's); with more, each
    thread takes the processes in turn."""
    deadline = time.perf_counter() + (seconds or 1e9)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    budget = [count if count is not None else 1 << 60]

    def work(n: int) -> None:
        conns = [http.client.HTTPConnection("127.0.0.1", p, timeout=30) for p in ports]
        mine: list[float] = []
        i = n
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            method, path, body, headers = next_request()
            conn = conns[(n if threads == len(conns) else i) % len(conns)]
            i += 1
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            mine.append(time.perf_counter() - started)
            with lock:
                statuses[status] += 1
        for conn in conns:
            conn.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(work, n) for n in range(threads)]:
            future.result()
    return latency_figures(latencies, time.perf_counter() - started, statuses)


class QueueWaits:
    """Samples RQ queues every 0.1 s: each job's wait from enqueued_at until it left the queue."""

    def __init__(self, redis, queues=("train", "ingest")):
        self.redis, self.queues = redis, queues
        self.waits: dict[str, list[float]] = {q: [] for q in queues}
        self._seen: dict[str, dict[str, float]] = {q: {} for q in queues}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> QueueWaits:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def take(self) -> dict[str, list[float]]:
        out = {q: sorted(v) for q, v in self.waits.items()}
        for v in self.waits.values():
            v.clear()
        return out

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.time()
            for q in self.queues:
                ids = {i.decode() for i in self.redis.lrange(f"rq:queue:{q}", 0, -1)}
                seen = self._seen[q]
                for job_id in ids - seen.keys():
                    raw = self.redis.hget(f"rq:job:{job_id}", "enqueued_at")
                    if raw:
                        at = datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))
                        seen[job_id] = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
                for job_id in list(seen.keys() - ids):
                    self.waits[q].append(max(0.0, now - seen.pop(job_id)))


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


# ------------------------------------------------------------------ the simulation


class Simulation:
    def __init__(self, args, env, app, fake, stack: Stack, redis):
        self.args, self.env, self.app, self.fake, self.stack, self.redis = args, env, app, fake, stack, redis
        self.shops: list[ShopState] = []
        self.rng = random.Random(5)
        self.tokens: dict[str, list[str]] = {}
        self.waits = QueueWaits(redis).start()
        global GrantedShop
        GrantedShop = _granted_shop_class()

    # -------------------------------------------------------------- helpers

    def token(self, domain: str) -> str:
        from tests.helpers import make_session_token

        pool = self.tokens.get(domain)
        if pool is None:
            exp = int(time.time()) + 6 * 3600
            pool = self.tokens[domain] = [
                make_session_token(self.app.config, domain, exp=exp, sub=str(s)) for s in range(3)
            ]
        return self.rng.choice(pool)

    def reco_request(self, shop: ShopState, cart: list[int]):
        body = json.dumps({"cartVariantIds": [str(v) for v in cart]}).encode()
        headers = {
            "Authorization": f"Bearer {self.token(shop.spec.domain)}",
            "Content-Type": "application/json",
        }
        return "POST", "/api/recommendations", body, headers

    def ask(self, port: int, shop: ShopState, cart: list[int]) -> dict:
        method, path, body, headers = self.reco_request(shop, cart)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status != 200:
            raise RuntimeError(f"{response.status} from port {port}: {answer[:300]!r}")
        return json.loads(answer)

    def sql(self, text: str, **params):
        import sqlalchemy as sa

        from posai_app.extensions import db

        with self.app.app_context():
            rows = db.session.execute(sa.text(text), params).all()
            db.session.remove()
        return rows

    def queues_idle(self) -> bool:
        from posai_app.webhooks.inbox import INBOX_KEY

        if self.redis.llen(INBOX_KEY):  # webhook deliveries no drain has taken yet
            return False
        if any(self.redis.llen(f"rq:queue:{q}") for q in ("high", "ingest", "train", "default")):
            return False
        return not any(
            self.redis.zcard(f"rq:wip:{q}") or self.redis.zcard(f"rq:started:{q}")
            for q in ("high", "ingest", "train", "default")
        )

    def wait_idle(self, timeout: float) -> float:
        started = time.monotonic()
        calm = 0
        while time.monotonic() - started < timeout:
            calm = calm + 1 if self.queues_idle() else 0
            if calm >= 3:
                return time.monotonic() - started
            time.sleep(0.2)
        raise SystemExit(f"the workers did not drain the queues in {timeout:.0f} s")

    # -------------------------------------------------------------- phases

    def install(self, new: list[ShopSpec]) -> dict:
        """The first POS request of each new shop installs it (token exchange); then sync + train."""
        for spec in new:
            shop = GrantedShop(domain=spec.domain, token="", base_orders=orders_of(spec))
            shop.oauth = self.fake.oauth
            shop.products = {p["id"]: p for p in products(spec)}
            shop.bucket_available, shop.bucket_at = self.fake.bucket_size, time.monotonic()
            with self.fake.lock:
                self.fake.shops[spec.domain] = shop
        states = [ShopState(spec, carts=carts_of(spec)) for spec in new]
        extra = self.stack.extra_workers(max(0, self.args.install_workers - 2))
        latencies: list[float] = []
        statuses: Counter[int] = Counter()
        lock = threading.Lock()
        started = time.perf_counter()

        def first_request(pair):
            n, state = pair
            port = self.stack.ports[n % 2]
            method, path, body, headers = self.reco_request(state, state.carts[0])
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request(method, path, body=body, headers=headers)
            status = conn.getresponse().status
            conn.close()
            with lock:
                latencies.append(time.perf_counter() - t0)
                statuses[status] += 1

        with ThreadPoolExecutor(CLIENT_THREADS) as pool:
            list(pool.map(first_request, enumerate(states)))
        installed_in = time.perf_counter() - started
        # The granted token lives in the fake; the shop row is the app's.
        ids = dict(self.sql("SELECT domain, id FROM shops"))
        for state in states:
            state.shop_id = ids[state.spec.domain]
        wanted = {s.shop_id for s in states}
        deadline = time.monotonic() + self.args.train_timeout
        while True:
            done = {
                r[0]
                for r in self.sql(
                    "SELECT DISTINCT shop_id FROM evaluation_runs "
                    "WHERE status IN ('succeeded', 'insufficient_data')"
                )
            }
            if wanted <= done:
                break
            if not self.redis.exists(SENTINEL):
                raise SystemExit("the Redis DB was flushed by another process (jobs lost): run void")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{len(wanted - done)} shops not trained after {self.args.train_timeout:.0f} s"
                )
            time.sleep(0.5)
        self.wait_idle(120)
        trained_in = time.perf_counter() - started
        self.stack.retire(extra)
        self.shops += states
        waits = self.waits.take()
        latencies.sort()
        return {
            "shops": len(states),
            "install_p50_ms": statistics.median(latencies) * 1000,
            "install_p99_ms": _pct(latencies, 0.99) * 1000,
            "install_statuses": dict(statuses),
            "installed_s": installed_in,
            "trained_s": trained_in,
            "install_train_wait": waits["train"],
            "ingest_wait": waits["ingest"],
            "workers": max(2, self.args.install_workers),
            "line_items": sum(s.spec.orders for s in states) * MEAN_ITEMS,
        }

    def clone(self, specs: list[ShopSpec]) -> dict:
        """New shops as copies of installed ones of about their size (every shop-owned row, the
        serving index object included, under a fresh shop id): what a real install would have
        left, in a fraction of the time. Each clone is its own shop to the app (its own id,
        domain, caches); the largest shop is never a template."""
        import sqlalchemy as sa

        from posai_app.extensions import db
        from posai_app.partitions import is_partition

        started = time.perf_counter()
        templates = sorted(self.shops[1:], key=lambda s: s.spec.orders)
        sizes = [t.spec.orders for t in templates]
        groups: dict[int, list[ShopSpec]] = {}
        for spec in specs:
            at = min(range(len(sizes)), key=lambda i: abs(sizes[i] - spec.orders))
            groups.setdefault(at, []).append(spec)
        with self.app.app_context():
            conn = db.session.connection()
            columns = {}
            for table, column, default in conn.execute(
                sa.text(
                    "SELECT table_name, column_name, column_default FROM information_schema.columns "
                    "WHERE table_schema = 'public' ORDER BY ordinal_position"
                )
            ):
                if not (default or "").startswith("nextval"):
                    columns.setdefault(table, []).append(column)
            owned = [  # each parent table once; its hash partitions (migration 0013) take the rows
                t
                for t, cols in columns.items()
                if "shop_id" in cols and t not in CLONE_SKIP and not is_partition(t, columns)
            ]
            for at, group in groups.items():
                template = templates[at]
                shop_cols = [c for c in columns["shops"] if c != "domain"]
                ids = dict(
                    conn.execute(
                        sa.text(
                            f"INSERT INTO shops (domain, {', '.join(shop_cols)}) "
                            f"SELECT d, {', '.join('s.' + c for c in shop_cols)} "
                            "FROM shops s, unnest(CAST(:domains AS text[])) d WHERE s.id = :t "
                            "RETURNING domain, id"
                        ),
                        {"domains": [g.domain for g in group], "t": template.shop_id},
                    ).all()
                )
                for table in owned:
                    cols = [c for c in columns[table] if c != "shop_id"]
                    conn.execute(
                        sa.text(
                            f"INSERT INTO {table} (shop_id, {', '.join(cols)}) "
                            f"SELECT n.id, {', '.join('t.' + c for c in cols)} "
                            f"FROM {table} t, unnest(CAST(:ids AS integer[])) n(id) WHERE t.shop_id = :t"
                        ),
                        {"ids": list(ids.values()), "t": template.shop_id},
                    )
                for spec in group:
                    copy = ShopSpec(
                        spec.index, template.spec.orders, template.spec.variants, template.spec.source
                    )
                    self.shops.append(ShopState(copy, shop_id=ids[spec.domain], carts=template.carts))
            db.session.commit()
            db.session.remove()
        return {"shops": len(specs), "seconds": time.perf_counter() - started, "templates": len(groups)}

    def retrain_burst(self) -> dict:
        """Retrains asked for a tenth of the shops at once (as "Retrain now" clicks or the nightly
        job do), on the two workers: each one's wait in the train queue."""
        from posai_app.training.services import request_training

        burst = self.rng.sample(self.shops, min(BURST_MAX, max(1, len(self.shops) // 10)))
        asked: dict[int, datetime] = {}
        started = time.perf_counter()
        with self.app.app_context():
            for shop in burst:
                asked[shop.shop_id] = datetime.now(UTC)
                request_training(shop.shop_id, "bench")
        self.wait_idle(600)
        seconds = time.perf_counter() - started
        # The wait: from the request to the moment a worker's job opened the shop's run.
        waits, durations = [], []
        for shop_id, at in asked.items():
            rows = self.sql(
                "SELECT started_at, duration_seconds FROM evaluation_runs "
                "WHERE shop_id = :s AND started_at >= :at "
                "ORDER BY started_at LIMIT 1",
                s=shop_id,
                at=at,
            )
            if rows:
                waits.append((rows[0][0] - at).total_seconds())
                durations.append(rows[0][1] or 0.0)
        return {
            "shops": len(burst),
            "seconds": seconds,
            "wait": sorted(waits),
            "run_p50": statistics.median(durations) if durations else float("nan"),
        }

    def pos_traffic(self) -> dict:
        weights = [s.spec.orders**0.5 for s in self.shops]
        lock = threading.Lock()

        def next_request():
            with lock:
                shop = self.rng.choices(self.shops, weights)[0]
                cart = self.rng.choice(shop.carts)
            return self.reco_request(shop, cart)

        ports = self.stack.ports
        two = len(ports)  # one client per web process
        run_load(ports, 2, lambda: ("GET", "/healthz", None, None), threads=two)  # warm-up
        baseline = run_load(ports, self.args.seconds, lambda: ("GET", "/healthz", None, None), threads=two)
        rss_before = [_rss_mb(p) for p in self.stack.web_pids()]

        def measured() -> tuple[dict, dict]:
            hits_before = [self.cache_lookups(p) for p in ports]
            result = run_load(ports, self.args.seconds, next_request, threads=two)
            hits_after = [self.cache_lookups(p) for p in ports]
            rate = {}
            for cache in ("serving", "catalog"):
                count = {
                    kind: sum(
                        a.get((cache, kind), 0) - b.get((cache, kind), 0)
                        for a, b in zip(hits_after, hits_before, strict=True)
                    )
                    for kind in ("hit", "miss")
                }
                total = count["hit"] + count["miss"]
                rate[cache] = count["hit"] / total if total else float("nan")
            return result, rate

        # The first pass meets shops these processes have not served yet; the second, the same
        # mix again: what the LRUs keep of it.
        reco, first_rate = measured()
        again, rate = measured()
        rss = [_rss_mb(p) for p in self.stack.web_pids()]
        return {
            "baseline": baseline,
            "first": reco,
            "first_rate": first_rate,
            "reco": again,
            "rss": rss,
            "rss_before": rss_before,
            "hit_rate": rate,
        }

    def cache_lookups(self, port: int) -> dict[tuple[str, str], float]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        out = {}
        for m in re.finditer(
            r'posai_cache_lookups_total\{cache="([^"]+)",result="([^"]+)"\} ([0-9.e+]+)', text
        ):
            out[(m.group(1), m.group(2))] = float(m.group(3))
        return out

    def webhooks(self) -> dict:
        from posai_app.demo.payloads import order_id_for

        secret = self.env["SHOPIFY_API_SECRET"]
        deliveries = []
        sent: dict[int, set[int]] = {}
        for _ in range(self.args.webhooks):
            shop = self.rng.choice(self.shops)
            sizes, draws = history(shop.spec)
            pick = self.rng.randrange(len(sizes))
            at = int(sizes[:pick].sum())
            items = list(dict.fromkeys(draws[at : at + int(sizes[pick])].tolist()))
            number = shop.spec.orders + shop.extra_orders
            shop.extra_orders += 1
            order = _order(shop.spec, number, items, datetime.now(UTC))
            sent.setdefault(shop.shop_id, set()).add(order_id_for(f"{shop.spec.index}-{number}"))
            body, headers = self.fake.webhook(
                "orders/create", shop.spec.domain, order, secret, webhook_id=f"sim-{uuid_hex()}"
            )
            deliveries.append((body, headers))
        it = iter(deliveries)
        lock = threading.Lock()

        def next_delivery():
            with lock:
                body, headers = next(it)
            return "POST", "/webhooks", body, {**headers, "Content-Type": "application/json"}

        ports = self.stack.ports
        baseline = run_load(ports, None, lambda: ("GET", "/healthz", None, None), count=len(deliveries))
        result = run_load(ports, None, next_delivery, count=len(deliveries))
        drained = self.wait_idle(300)
        stored = Counter()
        for shop_id, order_ids in sent.items():
            rows = self.sql(
                "SELECT order_id, count(*) FROM order_line_items WHERE shop_id = :s AND order_id = ANY(:ids) "
                "GROUP BY order_id",
                s=shop_id,
                ids=list(order_ids),
            )
            stored["orders"] += len(rows)
        return {
            "baseline": baseline,
            "webhooks": result,
            "drained_s": drained,
            "sent": len(deliveries),
            **stored,
        }

    def caches_across_processes(self) -> dict:
        """Warm both web processes, change a shop (catalog by webhook, model by retrain), check both."""
        from posai_app.demo.payloads import product_payload

        sample = self.rng.sample(self.shops, min(self.args.check_shops, len(self.shops)))
        a, b = self.stack.ports
        problems: list[str] = []
        archived: dict[int, tuple[ShopState, list[int], str]] = {}
        for shop in sample:
            cart = shop.carts[0]
            first = [self.ask(p, shop, cart) for p in (a, b)]
            ids = [[r["variantId"] for r in f["recommendations"]] for f in first]
            if ids[0] != ids[1]:
                problems.append(f"{shop.spec.domain}: the two processes differ before any change: {ids}")
            if ids[0]:
                archived[shop.shop_id] = (shop, cart, ids[0][0])
        secret = self.env["SHOPIFY_API_SECRET"]
        codes = {}
        for shop, _cart, variant in archived.values():
            v = next(i for i in range(shop.spec.variants) if str(_variant_id(shop.spec, i)) == variant)
            product = product_payload(shop.spec.code(v), f"Item {v}", "4.50", datetime.now(UTC).isoformat())
            product["status"] = "archived"
            product["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            codes[shop.shop_id] = variant
            self.fake.deliver(
                f"http://127.0.0.1:{a}/webhooks",
                "products/update",
                shop.spec.domain,
                product,
                secret,
                webhook_id=f"sim-{uuid_hex()}",
            )
        self.wait_idle(120)
        time.sleep(0.5)  # SERVING_CACHE_CHECK_INTERVAL (0.25 s) for the processes to re-read the signals
        for shop, cart, variant in archived.values():
            for p in (a, b):
                got = [r["variantId"] for r in self.ask(p, shop, cart)["recommendations"]]
                if variant in got:
                    problems.append(f"{shop.spec.domain}: port {p} still suggests archived {variant}")
        # A retrain of half of them: both processes must serve the new model version.
        retrained = list(archived.values())[: max(1, len(archived) // 2)]
        before = {s.shop_id: self.model_version(s.shop_id) for s, _, _ in retrained}
        with self.app.app_context():
            from posai_app.training.services import request_training

            for shop, _, _ in retrained:
                request_training(shop.shop_id, "bench")
        self.wait_idle(300)
        time.sleep(0.5)
        for shop, cart, _ in retrained:
            version = self.model_version(shop.shop_id)
            if version == before[shop.shop_id]:
                problems.append(f"{shop.spec.domain}: the retrain did not publish a new version")
            answers = [self.ask(p, shop, cart) for p in (a, b)]
            fresh = self.fresh_answer(shop, cart)
            for p, answer in zip((a, b), answers, strict=True):
                got = ([r["variantId"] for r in answer["recommendations"]], answer.get("metric"))
                if got != fresh:
                    problems.append(f"{shop.spec.domain}: port {p} answers {got}, a fresh process {fresh}")
        return {
            "checked": len(sample),
            "archived": len(archived),
            "retrained": len(retrained),
            "problems": problems,
        }

    def model_version(self, shop_id: int):
        rows = self.sql(
            "SELECT model_version, trained_at FROM recommender_configs WHERE shop_id = :s", s=shop_id
        )
        return tuple(rows[0]) if rows else None

    def fresh_answer(self, shop: ShopState, cart: list[int]):
        from posai_app.api.recommendations import recommend_for_cart
        from posai_app.cache_signals import forget
        from posai_app.extensions import db

        with self.app.test_request_context():
            forget(app=self.app)
            answer = recommend_for_cart(shop.shop_id, cart)
            db.session.remove()
        return [r["variantId"] for r in answer["recommendations"]], answer.get("metric")

    def database(self) -> dict:
        total = self.sql("SELECT pg_database_size(current_database())")[0][0]
        tables = self.sql(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY 2 DESC LIMIT 4"
        )
        line_items = self.sql("SELECT count(*) FROM order_line_items")[0][0]
        return {"bytes": total, "tables": tables, "line_items": line_items}


def _variant_id(spec: ShopSpec, v: int) -> int:
    from posai_app.demo.payloads import variant_id_for

    return variant_id_for(spec.code(v))


def uuid_hex() -> str:
    return secrets.token_hex(12)


# ------------------------------------------------------------------ report


def _row(label: str, value: str, baseline: str = "", note: str = "") -> None:
    print(f"  {label:<36}{value:>24}  {baseline:<30} {note}")


def report_step(
    n: int, inst: dict, burst: dict, pos: dict, hooks: dict, caches: dict, dbase: dict, base_db: int
) -> None:
    copied = inst.get("cloned", {}).get("shops", 0)
    print(
        f"\n== {n} shops ({inst['shops']} installed this step through the real path, "
        f"~{inst['line_items']:,.0f} "
        f"line items; {copied} copied) =="
    )
    _row("figure", "value", "same-run baseline", "")
    _row(
        "install: first request p50/p99 ms",
        f"{inst['install_p50_ms']:.0f} / {inst['install_p99_ms']:.0f}",
        "",
        f"statuses {inst['install_statuses']}; all synced+trained in {inst['trained_s']:.1f} s",
    )
    if inst.get("cloned"):
        c = inst["cloned"]
        _row(
            "  copied shops (SQL)",
            f"{c['shops']}",
            "",
            f"from {c['templates']} installed shops of about their size, in {c['seconds']:.1f} s",
        )
    tw, iw = inst["install_train_wait"], inst["ingest_wait"]
    _row(
        "  queue wait in the install burst",
        f"train p50 {_pct(tw, 0.5):.1f} / max {tw[-1] if tw else float('nan'):.1f} s",
        f"sync p50 {_pct(iw, 0.5):.1f} / max {iw[-1] if iw else float('nan'):.1f} s",
        f"{len(tw)} train, {len(iw)} sync jobs seen queued; {inst['workers']} workers during installs",
    )
    bw = burst["wait"]
    _row(
        "training queue wait p50/p99/max s",
        f"{_pct(bw, 0.5):.1f} / {_pct(bw, 0.99):.1f} / {bw[-1] if bw else float('nan'):.1f}",
        f"one training's run p50 {burst['run_p50']:.1f} s",
        f"retrains asked for {burst['shops']} shops at once (a tenth, at most {BURST_MAX}), 2 workers; "
        f"drained in {burst['seconds']:.1f} s",
    )
    b = pos["baseline"]
    for label, r, rate in (
        ("POST /api/recommendations p50/p99", pos["first"], pos["first_rate"]),
        ("  the same mix again: p50/p99", pos["reco"], pos["hit_rate"]),
    ):
        _row(
            label,
            f"{r['p50_ms']:.1f} / {r['p99_ms']:.1f} ms",
            f"/healthz {b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms",
            f"x{r['p50_ms'] / b['p50_ms']:.1f} / x{r['p99_ms'] / b['p99_ms']:.1f} the baseline; "
            f"{r['rps']:.0f} req/s ({r['rps'] / b['rps']:.2f} of /healthz's {b['rps']:.0f}); "
            f"hit rate serving {rate['serving']:.2f}, catalog {rate['catalog']:.2f}; "
            f"statuses {r['statuses']}",
        )
    _row(
        "web process RSS MB (A, B)",
        " / ".join(f"{x:.0f}" for x in pos["rss"]),
        "before traffic " + " / ".join(f"{x:.0f}" for x in pos["rss_before"]),
        "",
    )
    w, wb = hooks["webhooks"], hooks["baseline"]
    _row(
        "webhooks orders/create req/s",
        f"{w['rps']:.0f}",
        f"/healthz {wb['rps']:.0f}",
        f"{w['rps'] / wb['rps']:.2f} of the baseline; "
        f"p99 {w['p99_ms']:.0f} ms (/healthz {wb['p99_ms']:.0f}); "
        f"statuses {w['statuses']}",
    )
    ok = hooks["orders"] == hooks["sent"]
    _row(
        "  orders stored / sent",
        f"{hooks['orders']} / {hooks['sent']}",
        "",
        f"drained in {hooks['drained_s']:.1f} s; {'none lost or doubled' if ok else 'MISMATCH'}",
    )
    _row(
        "caches across the 2 processes",
        f"{caches['checked']} shops",
        "",
        f"{caches['archived']} archived by webhook, {caches['retrained']} retrained: "
        + ("both processes correct" if not caches["problems"] else f"{len(caches['problems'])} PROBLEMS"),
    )
    for problem in caches["problems"][:10]:
        print(f"    ! {problem}")
    _row(
        "database size per shop",
        f"{(dbase['bytes'] - base_db) / n / 1024:,.0f} KiB",
        f"empty schema {base_db / 2**20:.1f} MiB",
        f"total {dbase['bytes'] / 2**20:,.0f} MiB, {dbase['line_items']:,} line items; largest: "
        + ", ".join(f"{t} {s / 2**20:.0f} MiB" for t, s in dbase["tables"]),
    )


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="10,100,1000")
    parser.add_argument("--largest", type=int, default=20_000, help="orders of the largest shop")
    parser.add_argument(
        "--seconds", type=float, default=8.0, help="seconds of POS traffic (and baseline) per step"
    )
    parser.add_argument("--webhooks", type=int, default=300, help="orders/create deliveries per step")
    parser.add_argument(
        "--check-shops", type=int, default=10, help="shops checked for cache correctness per step"
    )
    parser.add_argument(
        "--install-workers",
        type=int,
        default=2,
        help="RQ workers while a step's new shops install (extra ones leave before the measurements)",
    )
    parser.add_argument(
        "--real-installs",
        type=int,
        default=1000,
        help="new shops per step installed through the real path (token exchange, sync, train jobs); "
        "the rest of a step's new shops are SQL copies of same-sized installed ones",
    )
    parser.add_argument(
        "--train-timeout",
        type=float,
        default=1200.0,
        help="seconds a step's installs may take to be synced and trained (900 took 568 s here)",
    )
    parser.add_argument(
        "--memory-bound",
        type=float,
        default=None,
        help="MB a web process may grow, first to last step (default: the caches' byte budgets, "
        "which bound it, plus 40 MB for everything else)",
    )
    args = parser.parse_args()
    if args.memory_bound is None:
        from posai_app.api import catalog, serving

        budgets = serving.DEFAULT_MAX_MB * 2**20 + catalog.CATALOG_CACHE_BYTES + catalog.PRODUCTS_CACHE_BYTES
        args.memory_bound = budgets / 2**20 + 40.0
    # SIGTERM (a timeout, a Ctrl-C'd shell) must still stop the stack and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    steps = [int(s) for s in args.steps.split(",")]

    import sqlalchemy as sa
    from cryptography.fernet import Fernet
    from flask_migrate import upgrade
    from redis import Redis

    from posai_app import create_app
    from posai_app.config import normalize_database_url
    from tests.fakeshopify import FakeShopify
    from tests.helpers import TEST_API_KEY, TEST_API_SECRET

    load_before = os.getloadavg()
    t_start = time.monotonic()
    server_url = normalize_database_url(
        os.environ.get("BENCH_SERVER_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
    name = f"posai_sim_{secrets.token_hex(3)}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    redis = Redis.from_url(redis_url)
    redis.flushdb()
    redis.set(SENTINEL, "1")  # gone at a step's end = another process flushed this Redis DB: the run is void
    fake = FakeShopify(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET)
    fake.load_schema()
    fake.start()
    scratch = tempfile.mkdtemp(prefix="posai-sim-")  # logs of the four processes, bulk spools
    spool = os.path.join(scratch, "spool")
    os.makedirs(spool)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
        "DATABASE_URL": sa.engine.make_url(server_url)
        .set(database=name)
        .render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_hex(32),
        "SHOPIFY_API_KEY": TEST_API_KEY,
        "SHOPIFY_API_SECRET": TEST_API_SECRET,
        "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_URL": "http://127.0.0.1",
        "BENCH_SHOPIFY_ADMIN_BASE_URL": fake.admin_base_url,
        "POSAI_WORKER_MAINTENANCE_SECONDS": "60",
    }
    settings = {
        "SHOPIFY_ADMIN_BASE_URL": fake.admin_base_url,
        "SHOPIFY_BULK_POLL_SECONDS": 0.02,
        "SHOPIFY_CLIENT_BACKOFF_BASE": 0.05,
        "SHOPIFY_BULK_SPOOL_DIR": spool,
    }
    os.environ.update(env)
    app = create_app({"DATABASE_URL": env["DATABASE_URL"], "REDIS_URL": redis_url, **settings})
    with app.app_context():
        upgrade()
    stack = Stack(env, settings, scratch)
    sim = None
    rss_first = None
    failures: list[str] = []
    try:
        stack.start()
        sim = Simulation(args, env, app, fake, stack, redis)
        base_db = sim.database()["bytes"]
        specs = population(max(steps), args.largest)
        sizes = sorted((s.orders for s in specs), reverse=True)
        print(
            f"population of {len(specs)} shops: orders per shop median {statistics.median(sizes):.0f}, "
            f"p90 {sizes[len(sizes) // 10]}, p99 {sizes[len(sizes) // 100]}, max {sizes[0]:,} "
            f"(~{MEAN_ITEMS:g} line items per order; {sum(sizes) * MEAN_ITEMS:,.0f} line items in all)"
        )
        print(
            "stack: 2 gunicorn web processes (1 sync worker each), 2 RQ workers, PostgreSQL, "
            f"Redis {redis_url}; POS client: 1 thread per web process; "
            f"webhooks: {CLIENT_THREADS} threads over both"
        )
        have = 0
        for n in steps:
            new = specs[have:n]
            inst = sim.install(new[: args.real_installs])
            if len(new) > args.real_installs:
                inst["cloned"] = sim.clone(new[args.real_installs :])
            have = n
            burst = sim.retrain_burst()
            pos = sim.pos_traffic()
            hooks = sim.webhooks()
            caches = sim.caches_across_processes()
            dbase = sim.database()
            report_step(n, inst, burst, pos, hooks, caches, dbase, base_db)
            if rss_first is None:
                rss_first = pos["rss"]
            grown = max(x - y for x, y in zip(pos["rss"], rss_first, strict=True))
            if not redis.exists(SENTINEL):
                raise SystemExit(f"{n} shops: Redis DB {redis_url} was flushed by another process; run void")
            if caches["problems"]:
                failures.append(f"{n} shops: cache problems")
            if hooks["orders"] != hooks["sent"]:
                failures.append(f"{n} shops: webhooks lost or doubled orders")
            print(f"  web memory vs the first step: {grown:+.0f} MB (bound {args.memory_bound:.0f} MB)")
            if grown > args.memory_bound:
                failures.append(f"{n} shops: web RSS grew {grown:.0f} MB > {args.memory_bound:.0f} MB")
            sys.stdout.flush()
    finally:
        if sim is not None:
            sim.waits.stop()
        stack.stop()
        fake.stop()
        redis.flushdb()
        with app.app_context():
            from posai_app.extensions import db

            db.session.remove()
            db.engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"process logs kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"\nran {time.monotonic() - t_start:.0f} s on {os.cpu_count()} CPUs; load average "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} after"
    )
    if failures:
        print("FAILED: " + "; ".join(failures))
        raise SystemExit(1)
    print("web memory flat within the bound; every cache correct across both processes; no order lost")


if __name__ == "__main__":
    main()

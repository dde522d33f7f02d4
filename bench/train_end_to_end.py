"""End-to-end training: a large synthetic shop and Online Retail in PostgreSQL, then the train job.

    .venv/bin/python bench/train_end_to_end.py [--orders 1000000] [--variants 50000] [--mean-items 3]
        [--server postgresql://postgres@127.0.0.1:5432/postgres] [--no-online-retail]

A throw-away database is created on the server (and dropped at the end). The synthetic shop
(bench/synthetic.py's generator: Zipf popularity, bundles, one timestamp per order, a few gift
cards and custom sales for the filters to drop) is loaded with binary COPY. Each train job
(`posai_app.training.jobs.train_shop`: read from PostgreSQL, train, publish) runs in a fresh
process; the phases' wall times and that process's peak RSS are printed. Online Retail is
loaded the same way (ids renumbered so that string order, and so every tie-break, is kept) and
its train job is compared with `posai evaluate` and `posai evaluate --tuned` on the CSV, in
the same run. Targets (issue 20): the synthetic job under 60 s and under 2 GB peak.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from posai_app.serving.rows import COPY_HEADER, COPY_TRAILER  # noqa: E402

ONLINE_RETAIL = ROOT / "posai_app" / "data" / "online_retail" / "orders.csv.gz"
PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: binary timestamps count from there
LINE_COLUMNS = (
    "shop_id, line_item_id, order_id, created_at, variant_id, product_id, title, quantity, is_custom_sale"
)
CHUNK_ROWS = 250_000


def _line_dtype():
    import numpy as np

    fields = [("n", ">i2"), ("l_shop", ">i4"), ("shop", ">i4")]
    for name in ("line", "order", "time", "variant", "product"):
        fields += [(f"l_{name}", ">i4"), (name, ">i8")]
    fields += [
        ("l_title", ">i4"),
        ("l_quantity", ">i4"),
        ("quantity", ">i4"),
        ("l_custom", ">i4"),
        ("custom", "i1"),
    ]
    return np.dtype(fields)


def copy_line_items(cursor, shop_id: int, orders, times_s, variants, custom) -> None:
    """Binary COPY of line items: order ids, Unix-second times, variant ids, custom-sale flags."""
    import numpy as np

    dtype = _line_dtype()
    with cursor.copy(f"COPY order_line_items ({LINE_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(COPY_HEADER)
        for start in range(0, len(orders), CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, len(orders))
            rows = np.zeros(stop - start, dtype=dtype)
            rows["n"] = 9
            rows["l_shop"], rows["shop"] = 4, shop_id
            for name in ("line", "order", "time", "variant", "product"):
                rows[f"l_{name}"] = 8
            rows["line"] = np.arange(start + 1, stop + 1)  # grows in cart order
            rows["order"] = orders[start:stop]
            rows["time"] = (times_s[start:stop] - PG_EPOCH) * 1_000_000
            rows["variant"] = variants[start:stop]
            rows["product"] = variants[start:stop] // 10
            rows["l_title"] = 0  # empty title
            rows["l_quantity"], rows["quantity"] = 4, 1
            rows["l_custom"], rows["custom"] = 1, custom[start:stop]
            copy.write(rows.tobytes())
        copy.write(COPY_TRAILER)


def copy_variants(cursor, shop_id: int, variant_ids, gift_cards: set[int]) -> None:
    with cursor.copy(
        "COPY product_variants (shop_id, variant_id, product_id, product_title, is_gift_card) FROM STDIN"
    ) as copy:
        for vid in variant_ids:
            copy.write_row((shop_id, vid, vid // 10, f"item {vid}", vid in gift_cards))


def load_synthetic(cursor, shop_id: int, n_orders: int, n_variants: int, mean_items: float) -> dict:
    import numpy as np
    from synthetic import fast_line_items

    t = time.perf_counter()
    sizes, draws = fast_line_items(n_orders, n_variants, mean_items, seed=7)
    start, span = 1_704_067_200, 365 * 86_400  # 2024-01-01, one year
    order_index = np.repeat(np.arange(n_orders), sizes)
    times_s = start + order_index * span // n_orders
    variants = 100_000 + draws
    rng = np.random.default_rng(11)
    custom = (rng.random(len(draws)) < 0.005).astype(np.int8)
    gift_cards = {100_000 + v for v in (17, 170, 1_700)}
    generated = time.perf_counter() - t
    t = time.perf_counter()
    copy_variants(cursor, shop_id, range(100_000, 100_000 + n_variants), gift_cards)
    copy_line_items(cursor, shop_id, order_index + 1, times_s, variants, custom)
    return {"line_items": len(draws), "generate_s": generated, "copy_s": time.perf_counter() - t}


def load_online_retail(cursor, shop_id: int) -> dict:
    """The CSV's rows with integer ids: orders numbered in order of first appearance (equal times
    keep file order, as the CSV reader does) and variants numbered in string order (same ties)."""
    import numpy as np

    from posai_app.reco.orders import time_key

    t = time.perf_counter()
    with gzip.open(ONLINE_RETAIL, "rt", newline="") as handle:
        rows = list(csv.DictReader(handle))
    order_number: dict[str, int] = {}
    order_time: dict[str, int] = {}
    for row in rows:
        if row["order_id"] not in order_number:
            order_number[row["order_id"]] = 10**9 + len(order_number)
            order_time[row["order_id"]] = time_key(row["created_at"]) // 1_000_000
    kept = [row for row in rows if row["variant_id"]]
    variant_number = {v: 10**12 + i for i, v in enumerate(sorted({row["variant_id"] for row in kept}))}
    orders = np.array([order_number[row["order_id"]] for row in kept], dtype=np.int64)
    times_s = np.array([order_time[row["order_id"]] for row in kept], dtype=np.int64)
    variants = np.array([variant_number[row["variant_id"]] for row in kept], dtype=np.int64)
    copy_variants(cursor, shop_id, variant_number.values(), set())
    copy_line_items(cursor, shop_id, orders, times_s, variants, np.zeros(len(kept), dtype=np.int8))
    return {"line_items": len(kept), "copy_s": time.perf_counter() - t}


JOB = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
from bench.train_end_to_end import run_job
print(json.dumps(run_job({url!r}, {shop_id})))
"""


def _settings(url: str) -> dict:
    """The app's settings for the bench database; one encryption key for the parent and its children."""
    from cryptography.fernet import Fernet

    from tests.helpers import TEST_SETTINGS

    key = os.environ.setdefault("POSAI_BENCH_ENCRYPTION_KEY", Fernet.generate_key().decode())
    return {**TEST_SETTINGS, "POSAI_ENCRYPTION_KEYS": key, "DATABASE_URL": url, "REDIS_URL": None}


def run_job(url: str, shop_id: int) -> dict:
    """In a fresh process: the train job with each phase timed (wrappers around its own calls)."""
    t = time.perf_counter()
    import sqlalchemy as sa

    from posai_app import create_app, reco
    from posai_app.extensions import db
    from posai_app.models import EvaluationRun, ServingIndexBlob
    from posai_app.reco import stats  # noqa: F401  (numpy + scipy: timed apart from the read)
    from posai_app.serving import store
    from posai_app.training import jobs

    imports = time.perf_counter() - t
    phases: dict[str, float] = {}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - began

        return wrapper

    jobs.load_history = timed("read", jobs.load_history)
    reco.train = timed("train", reco.train)
    store.recent_counts = timed("bestsellers", store.recent_counts)
    jobs._publish = timed("publish", jobs._publish)
    store.packed.pack = timed("publish_pack", store.packed.pack)
    store.insert_stats = timed("publish_stats", store.insert_stats)
    app = create_app(_settings(url))
    with app.app_context():
        began, cpu = time.perf_counter(), time.process_time()
        run_id = jobs.train_shop(shop_id, "bench")
        total, total_cpu = time.perf_counter() - began, time.process_time() - cpu
        run = db.session.get(EvaluationRun, (shop_id, run_id))
        results = run.results or {}
        details = results.get("details", {})
        neighbor_rows = db.session.scalar(
            sa.select(ServingIndexBlob.neighbors).where(ServingIndexBlob.shop_id == shop_id)
        )
    return {
        "neighbor_rows": neighbor_rows,
        "imports_s": imports,
        "job_s": total,
        "job_cpu_s": total_cpu,
        **{f"{name}_s": seconds for name, seconds in phases.items()},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "status": run.status,
        "train_orders": run.train_orders,
        "chosen": run.chosen_metric,
        "hit_rates": {name: fig["hitRate"] for name, fig in results.get("results", {}).items()},
        "skipped": details.get("skipped", {}),
    }


def _child(args: list[str], env: dict | None = None) -> tuple[str, float, float, float]:
    """Run a child process: stdout, wall seconds, CPU seconds (user + sys) and peak RSS in MB."""
    began = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    out, err = process.communicate()
    wall = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # cumulative: callers take differences
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])}... failed:\n{err.decode()[-3000:]}")
    return out.decode(), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def job_in_child(url: str, shop_id: int) -> dict:
    code = JOB.format(root=str(ROOT), url=url, shop_id=shop_id)
    out, wall, _, _ = _child([sys.executable, "-c", code])
    row = json.loads(out.strip().splitlines()[-1])
    row["process_s"] = wall
    return row


def evaluate_in_child(*options: str) -> dict:
    posai = str(Path(sys.executable).with_name("posai"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, wall, cpu, _ = _child([posai, "evaluate", str(ONLINE_RETAIL), "--json", "--quiet", *options])
    report = json.loads(out)
    return {
        "wall_s": wall,
        "cpu_s": cpu - (before.ru_utime + before.ru_stime),
        "chosen": report["best"],
        "hit_rates": {name: fig["hitRate"] for name, fig in report["results"].items()},
    }


def _phase_line(label: str, row: dict) -> str:
    phases = ", ".join(
        f"{name} {row[f'{name}_s']:.1f} s"
        for name in ("read", "train", "bestsellers", "publish")
        if f"{name}_s" in row
    )
    if "publish_pack_s" in row:
        phases += (
            f" (of which packing {row['neighbor_rows']:,} neighbours {row['publish_pack_s']:.1f} s, "
            f"stats {row['publish_stats_s']:.1f} s)"
        )
    other = row["job_s"] - sum(
        row.get(f"{name}_s", 0.0) for name in ("read", "train", "bestsellers", "publish")
    )
    return (
        f"{label}: train job {row['job_s']:.1f} s wall ({row['job_cpu_s']:.1f} s CPU): {phases}, "
        f"run bookkeeping {other:.1f} s; imports {row['imports_s']:.1f} s; process {row['process_s']:.1f} s; "
        f"peak RSS {row['peak_rss_mb']:.0f} MB; chosen {row['chosen']}; skipped {row['skipped'] or 'none'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--variants", type=int, default=50_000)
    parser.add_argument("--mean-items", type=float, default=3.0)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-online-retail", action="store_true")
    args = parser.parse_args()

    import sqlalchemy as sa

    from posai_app.config import normalize_database_url

    server = normalize_database_url(args.server)
    name = f"posai_bench_e2e_{secrets.token_hex(3)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        _run(url, args)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _add_shop(domain: str) -> int:
    from datetime import UTC, datetime

    from posai_app.extensions import db
    from posai_app.models import Shop

    shop = Shop(domain=domain, access_token="shpat_bench", installed_at=datetime.now(UTC), settings={})
    db.session.add(shop)
    db.session.commit()
    return shop.id


def _load(url: str, loader, domain: str, *loader_args) -> tuple[int, dict]:
    from flask_migrate import upgrade

    from posai_app import create_app
    from posai_app.extensions import db

    app = create_app(_settings(url))
    with app.app_context():
        upgrade()
        shop_id = _add_shop(domain)
        raw = db.engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                figures = loader(cursor, shop_id, *loader_args)
            raw.commit()
            raw.autocommit = True
            with raw.cursor() as cursor:
                cursor.execute("ANALYZE order_line_items")
                cursor.execute("ANALYZE product_variants")
        finally:
            raw.close()
        db.engine.dispose()
    return shop_id, figures


def _run(url: str, args) -> None:
    print(
        f"load: {os.getloadavg()[0]:.1f} (1-min load average on {os.cpu_count()} CPUs) at start", flush=True
    )
    shop_id, loaded = _load(
        url, load_synthetic, "bench-synthetic.myshopify.com", args.orders, args.variants, args.mean_items
    )
    print(
        f"synthetic shop: {args.orders:,} orders, {loaded['line_items']:,} line items, "
        f"{args.variants:,} variants; generated in {loaded['generate_s']:.1f} s, "
        f"loaded with COPY in {loaded['copy_s']:.1f} s",
        flush=True,
    )
    synthetic = job_in_child(url, shop_id)
    print(json.dumps(synthetic), flush=True)
    print(_phase_line("synthetic", synthetic), flush=True)
    verdict = "meets" if synthetic["job_s"] < 60 and synthetic["peak_rss_mb"] < 2048 else "MISSES"
    print(f"targets < 60 s and < 2 GB peak: {verdict} them", flush=True)
    if args.no_online_retail:
        return
    retail_id, loaded = _load(url, load_online_retail, "bench-online-retail.myshopify.com")
    print(
        f"Online Retail: {loaded['line_items']:,} line items loaded with COPY in {loaded['copy_s']:.1f} s",
        flush=True,
    )
    retail = job_in_child(url, retail_id)
    print(json.dumps(retail), flush=True)
    print(_phase_line("Online Retail", retail), flush=True)
    for options in ((), ("--tuned",)):
        cli = evaluate_in_child(*options)
        label = " ".join(("posai evaluate", *options))
        print(
            f"{label} on the CSV: {cli['wall_s']:.1f} s wall ({cli['cpu_s']:.1f} s CPU), best {cli['chosen']}"
        )
        if options:
            same = cli["hit_rates"] == retail["hit_rates"] and cli["chosen"] == retail["chosen"]
            print(f"  train job's report equals `{label}`'s: {same}")
    print(f"load: {os.getloadavg()[0]:.1f} at the end", flush=True)


if __name__ == "__main__":
    main()

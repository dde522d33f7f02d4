"""Scale benchmark: evaluation and full training on synthetic histories over 50,000 variants.

usage: python bench/scale.py [--sizes 10000 100000 1000000] [--variants 50000] [--mean-items 3]

Each size runs in a fresh process: generate a Zipf history (mean 3 items per order, one timestamp
per order), then time `evaluate()` (the issue-3 protocol) and `train()` (tuning, report, serving
index) and report the process's peak RSS. The report's plan says how EASE was fitted: dense on a
planned head, or (sparse catalogs beyond the dense limit) the sparse approximation on every variant.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
from datetime import datetime, timedelta
sys.path.insert(0, {bench!r})
from synthetic import fast_baskets
from posai_app.reco import Order, evaluate, train
n, variants, mean = {n}, {variants}, {mean}
t0 = time.perf_counter()
baskets = fast_baskets(n, variants, mean, seed=7)
start, step = datetime(2024, 1, 1), timedelta(days=365) / n
orders = [Order(str(i), start + step * i, b) for i, b in enumerate(baskets)]
generated = time.perf_counter() - t0
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t, c = time.perf_counter(), time.process_time()
report = evaluate(orders, k=2)
evaluate_s, evaluate_cpu = time.perf_counter() - t, time.process_time() - c
t, c = time.perf_counter(), time.process_time()
result = train(orders, k=2, top_n=50)
train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
print(json.dumps({{
    "orders": n, "variants_seen": len(result.index), "items": sum(map(len, baskets)),
    "generate_s": generated, "evaluate_s": evaluate_s, "train_s": train_s,
    "evaluate_cpu_s": evaluate_cpu, "train_cpu_s": train_cpu,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_after_generation_mb": rss_before / 1024,
    "chosen": result.metric, "params": result.params,
    "best_basic": report.best, "hit_rate_chosen": result.report.results[result.metric]["hitRate"],
    "skipped": result.report.skipped, "index_rows": result.index.n_rows,
    "plan": result.report.selection.get("plan"),
    "inner": result.report.selection.get("innerHitRate"),
    "results": {{name: round(f["hitRate"], 4) for name, f in result.report.results.items()}},
}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--variants", type=int, default=50_000)
    parser.add_argument("--mean-items", type=float, default=3.0)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        code = CHILD.format(
            bench=str(Path(__file__).resolve().parent), n=n, variants=args.variants, mean=args.mean_items
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            check=True,
        )
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        f"\n{'orders':>10}{'items':>10}{'evaluate s':>12}{'train s':>10}"
        f"{'train CPU s':>13}{'peak RSS MB':>13}  chosen"
    )
    for r in rows:
        print(
            f"{r['orders']:>10}{r['items']:>10}{r['evaluate_s']:>12.1f}{r['train_s']:>10.1f}{r['train_cpu_s']:>13.1f}"
            f"{r['peak_rss_mb']:>13.0f}  {r['chosen']}"
        )
    for a, b in zip(rows, rows[1:], strict=False):
        growth = (b["train_s"] / max(a["train_s"], 1e-9)) / (b["orders"] / a["orders"])
        print(
            f"{a['orders']} -> {b['orders']}: train time x{b['train_s'] / max(a['train_s'], 1e-9):.1f} "
            f"for x{b['orders'] / a['orders']:.0f} orders (x{growth:.2f} per order)"
        )


if __name__ == "__main__":
    main()

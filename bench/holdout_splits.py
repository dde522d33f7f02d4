"""Does the training choice generalise? The pipeline on several learn/test splits and shops (issue 20).

usage: python bench/holdout_splits.py [--orders FILE] [--splits 0.4:0.6,0.5:0.7,0.6:0.8,0.8:1.0]
                                      [--synthetic A,B,C] [--json OUT]

For each history and split a:b (orders sorted by created_at): `train()` learns from the first a of
the orders exactly as `posai recommend-batch` does (tuning and choice inside those orders only),
and the carts of the orders in [a, b) (all items but the last; the last held out) are answered by
the serving policy (`reco.serving.recommend`: index picks, then the learning orders' recent
bestsellers). Beside the pipeline's HitRate@K it prints, on the same carts:

- every selectable candidate with the settings the run tuned, re-fitted on all learning orders and
  served as the index serves it (each row's top-N), and the best of them on the test ("oracle": a
  figure no procedure can know in advance);
- the original design: the basic scorer the issue-3 rule picks on the learning orders' own 80/20
  split, with full neighbourhoods.

So `pipeline − oracle` is what the choice lost on that test, and `pipeline − original` what the
pipeline gains over the original design. Time-shifted splits of one file are not independent
shops (they share a catalog and its seasons); the synthetic shops (bench/synthetic.py, seeded
shapes: catalog size, basket size, popularity skew) have no drift, so recency cannot help there,
except shape D, whose variants are replaced by new ones over the year.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from posai_app.reco import BASIC, SCORERS, SELECTION_ORDER, History  # noqa: E402
from posai_app.reco.evaluation import Cases, _noop, evaluate_history  # noqa: E402
from posai_app.reco.scorers import basic_writers, single_threaded_lapack, sparse_ease  # noqa: E402
from posai_app.reco.selection import _served_recommendations, train  # noqa: E402
from posai_app.reco.serving import bestsellers, every_variant_sellable, recommend  # noqa: E402
from posai_app.reco.stats import Stats  # noqa: E402

ONLINE_RETAIL = ROOT / "posai_app" / "data" / "online_retail" / "orders.csv.gz"
# name: (orders, variants, mean items per order, seed, Zipf exponent)
SHAPES = {
    "A": (20_000, 3_000, 4.0, 1, 1.0),
    "B": (30_000, 8_000, 3.0, 2, 1.1),
    "C": (15_000, 1_000, 6.0, 3, 0.7),
    "D": (20_000, 3_000, 4.0, 4, 1.0),  # A's shape with catalog churn (CHURN)
}
# Shapes whose catalog churns: each variant is replaced by a new one (a new id, same place in the
# popularity order and the bundles) this many times over the year, at a seeded random phase, as
# products are refreshed in a real shop: what the old id taught is lost, so recency matters.
CHURN = {"D": 2.0}


def prefix(history: History, stop: int) -> History:
    """The first `stop` orders as a history of their own (its own vocabulary, as a file of them would)."""
    ids = history.ids
    baskets = [
        [ids[i] for i in history.indices[history.indptr[o] : history.indptr[o + 1]]] for o in range(stop)
    ]
    return History(baskets, history.times[:stop].tolist(), history.has_times)


def synthetic_history(shape: str) -> History:
    from synthetic import baskets

    n, variants, mean, seed, exponent = SHAPES[shape]
    churn = CHURN.get(shape, 0.0)
    phase = np.random.default_rng(seed).random(variants)

    def version(v: int, i: int) -> str:
        return f"-{int(churn * i / n + phase[v])}" if churn else ""

    orders = [
        [f"{100000 + v}{version(v, i)}" for v in items]
        for i, items in baskets(n, variants, mean, seed, exponent)
    ]
    year_us = 365 * 86_400 * 1_000_000
    return History(orders, [i * year_us // n for i in range(n)])


def measure(name: str, history: History, learn_share: float, test_share: float, k: int, top_n: int) -> dict:
    learn_n, test_n = int(history.n_orders * learn_share), int(history.n_orders * test_share)
    learn, both = prefix(history, learn_n), prefix(history, test_n)
    started = time.perf_counter()
    result = train(learn, k=k, top_n=top_n, build_runner_up=False)
    seconds = time.perf_counter() - started
    cases = Cases(both, learn_n, test_n)
    fallback = bestsellers(learn)
    carts = [[both.ids[i] for i in cases.cart[cases.indptr[c] : cases.indptr[c + 1]]] for c in range(cases.n)]
    held = [both.ids[i] for i in cases.held]
    hits = sum(
        h in recommend(result.index, cart, k, every_variant_sellable, fallback).variant_ids[:k]
        for cart, h in zip(carts, held, strict=True)
    )
    pipeline = hits / max(cases.n, 1)

    # Every candidate at its tuned settings, fitted on all learning orders, served as top-N rows.
    stats = Stats.build(both, 0, learn_n)
    plan = result.report.selection.get("plan", {})
    candidates: dict[str, float] = {}
    with single_threaded_lapack():
        for cand in SELECTION_ORDER:
            params = result.report.params.get(cand)
            if params is None:
                continue
            spec = SCORERS[cand]
            params = dict(params)
            decay = params.pop("cart_decay", 1.0)  # a serving weight, not the scorer's own setting
            if spec.dense:
                params = {**params, "max_variants": plan.get("easeServedVariants", 4000)}
            build = sparse_ease if spec.dense and "easeServed" in plan else spec.build
            sim = build(stats, **params)
            recs = _served_recommendations(sim, stats, cases, k, top_n, decay)
            candidates[cand] = float(cases.hits(recs).mean()) if cases.n else 0.0
    # The original design: its own auto-selected basic scorer, full neighbourhoods.
    original = evaluate_history(learn, k, _noop).best
    if original in BASIC:
        recs = cases.recommend_values(stats.co, basic_writers([original], stats), k, stats.rank)[0]
        original_rate = float(cases.hits(recs).mean()) if cases.n else 0.0
    else:
        original_rate = 0.0
    oracle = max(candidates, key=lambda c: (candidates[c], -SELECTION_ORDER.index(c)))
    return {
        "history": name,
        "learnOrders": learn_n,
        "testCarts": cases.n,
        "chosen": result.metric,
        "pipeline": pipeline,
        "standardError": float(np.sqrt(pipeline * (1 - pipeline) / max(cases.n, 1))),
        "oracle": oracle,
        "oracleRate": candidates[oracle],
        "original": original,
        "originalRate": original_rate,
        "candidates": candidates,
        "trainSeconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", default=str(ONLINE_RETAIL))
    parser.add_argument("--splits", default="0.4:0.6,0.5:0.7,0.6:0.8,0.8:1.0")
    parser.add_argument(
        "--synthetic", default="A,B,C,D", help="shapes of bench/synthetic.py (learn 0.8, test 0.2)"
    )
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--top-n", type=int, default=50)
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    runs = []
    if args.orders:
        history = History.from_csv(args.orders)
        for split in filter(None, args.splits.split(",")):
            a, b = (float(x) for x in split.split(":"))
            runs.append((f"{Path(args.orders).name} {a:.0%}→{b:.0%}", history, a, b))
    for shape in filter(None, args.synthetic.split(",")):
        n, v, m, _, e = SHAPES[shape]
        drift = f", {CHURN[shape]:g} refreshes a year" if shape in CHURN else ""
        label = f"synthetic {shape} ({n} orders, {v} variants, {m:g} items, Zipf {e:g}{drift})"
        runs.append((label, None, shape, 0))
    rows = []
    for name, history, a, b in runs:
        if history is None:
            history, a, b = synthetic_history(a), 0.8, 1.0
        row = measure(name, history, a, b, args.k, args.top_n)
        rows.append(row)
        print(
            f"{row['history']}: learn {row['learnOrders']}, {row['testCarts']} carts; "
            f"pipeline {row['chosen']} {row['pipeline']:.4f} (±{row['standardError']:.4f}); "
            f"oracle {row['oracle']} {row['oracleRate']:.4f} "
            f"({row['pipeline'] - row['oracleRate']:+.4f}); "
            f"original {row['original']} {row['originalRate']:.4f} "
            f"({row['pipeline'] - row['originalRate']:+.4f}); "
            f"train {row['trainSeconds']:.1f}s",
            flush=True,
        )
        print("    " + ", ".join(f"{c} {r:.4f}" for c, r in row["candidates"].items()), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

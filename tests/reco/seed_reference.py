"""A faithful, deliberately plain pure-Python version of the original POSAI
recommender training (a TypeScript trainRecommender built on Maps of pairs):
the baseline that the project's figures must equal for the four original
metrics, and whose speed the project must beat.

usage: python3 seed_reference.py ORDERS.csv[.gz] [K]   (prints JSON)

Protocol (the one the issues spell out):
- basket = the order's distinct variant ids, in line-item order; orders with >= 1 item kept
- orders sorted by created_at (stable), first floor(0.8 * n) train, rest validation
- each validation order with >= 2 items: cart = all but the last, held out = last
- cart score of candidate b = sum over cart items a with co(a, b) > 0 of sim(a, b);
  cart items excluded; ties broken by train count of b (desc), then variant id (asc)
- HitRate@K = share of evaluated orders whose held-out item is in the top K;
  Precision@K = hits / K averaged; Recall@K = hits / 1 averaged
"""

import math
import sys
import time
from collections import defaultdict

METRICS = ("cooccurrence", "cosine", "confidence", "lift")


def split_by_time(baskets, train_share=0.8):
    ordered = sorted(baskets, key=lambda b: b[1])
    cut = int(len(ordered) * train_share)
    return ordered[:cut], ordered[cut:]


def build_stats(train):
    counts = defaultdict(int)
    pairs = defaultdict(int)
    adjacency = defaultdict(set)
    for _, _, items in train:
        for v in items:
            counts[v] += 1
        for i, a in enumerate(items):
            for b in items[i + 1 :]:
                key = (a, b) if a < b else (b, a)
                pairs[key] += 1
                adjacency[a].add(b)
                adjacency[b].add(a)
    return len(train), counts, pairs, adjacency


def similarity(metric, co, ca, cb, n):
    if metric == "cooccurrence":
        return float(co)
    if metric == "cosine":
        return co / math.sqrt(ca * cb)
    if metric == "confidence":
        return co / ca
    if metric == "lift":
        return co * n / (ca * cb)
    raise ValueError(metric)


def recommend(stats, metric, cart, k):
    n, counts, pairs, adjacency = stats
    cart_set = set(cart)
    scores = defaultdict(float)
    for a in cart:
        for b in adjacency.get(a, ()):
            if b in cart_set:
                continue
            co = pairs[(a, b) if a < b else (b, a)]
            scores[b] += similarity(metric, co, counts[a], counts[b], n)
    ranked = sorted(scores, key=lambda b: (-scores[b], -counts[b], b))
    return ranked[:k]


def evaluate(baskets, k=2):
    train, val = split_by_time(baskets)
    t0 = time.perf_counter()
    stats = build_stats(train)
    results = {}
    cases = [(items[:-1], items[-1]) for _, _, items in val if len(items) >= 2]
    for metric in METRICS:
        hits = 0
        for cart, held in cases:
            if held in recommend(stats, metric, cart, k):
                hits += 1
        m = len(cases) or 1
        results[metric] = {"hitRate": hits / m, "precision": hits / (k * m), "recall": hits / m}
    best = max(METRICS, key=lambda m: results[m]["hitRate"])  # first wins a tie
    return {
        "k": k,
        "trainOrders": len(train),
        "evaluatedOrders": len(cases),
        "results": results,
        "best": best,
        "seconds": time.perf_counter() - t0,
    }


def load(path):
    """Read the common CSV shape (plain or .gz) into (order_id, created_at, [variant ids])."""
    import csv
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    orders = {}
    with opener(path, "rt", newline="") as f:
        for r in csv.DictReader(f):
            o = orders.setdefault(r["order_id"], (r["order_id"], r["created_at"], []))
            if r["variant_id"] and r["variant_id"] not in o[2]:
                o[2].append(r["variant_id"])
    return list(orders.values())


if __name__ == "__main__":
    import json

    print(json.dumps(evaluate(load(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2), indent=1))

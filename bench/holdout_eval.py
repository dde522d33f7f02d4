"""Holdout benchmark (issue 9): POSAI's whole pipeline versus independent anchors, HitRate@2.

usage: python bench/holdout_eval.py ORDERS.csv[.gz] [--k 2] [--skip-posai]

Orders are sorted by created_at (stable); the first 80% are written to a learning file in the
common CSV shape, and every later order with >= 2 items becomes a cart (all items but the last;
the last is held out). POSAI is measured through `posai recommend-batch` in a subprocess, exactly
as anyone would run it; each anchor is computed here, independently of posai_app.reco:
the `implicit` library's BM25 and cosine item-kNN (if importable), plain EASE (λ = 50), RP3β, and
the original four co-occurrence metrics.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]


def read(path: str) -> tuple[list[str], dict[str, list[list[str]]], list[tuple[str, str, list[str]]]]:
    """Header, raw rows per order, and (order_id, created_at, distinct items) in file order."""
    opener = gzip.open if path.endswith(".gz") else open
    rows: dict[str, list[list[str]]] = {}
    with opener(path, "rt", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        i_o, i_t, i_v = (header.index(c) for c in ("order_id", "created_at", "variant_id"))
        for row in reader:
            rows.setdefault(row[i_o], []).append(row)
    orders = []
    for oid, lines in rows.items():
        items = list(dict.fromkeys(r[i_v] for r in lines if r[i_v]))
        if items:
            orders.append((oid, lines[0][i_t], items))
    return header, rows, orders


def split(orders):
    from datetime import UTC, datetime

    def key(o):
        t = datetime.fromisoformat(o[1])
        return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t

    ordered = sorted(orders, key=key)
    cut = int(len(ordered) * 0.8)
    return ordered[:cut], ordered[cut:]


class Data:
    """Learning baskets as an orders × items matrix, and the carts over the same vocabulary."""

    def __init__(self, learn, test) -> None:
        self.vocab: dict[str, int] = {}
        for _, _, items in learn:
            for v in items:
                self.vocab.setdefault(v, len(self.vocab))
        self.n_items = len(self.vocab)
        self.x = self._matrix([items for _, _, items in learn])
        self.cases = [(items[:-1], items[-1]) for _, _, items in test if len(items) >= 2]
        self.carts = self._matrix([[v for v in cart if v in self.vocab] for cart, _ in self.cases])
        self.held = np.array([self.vocab.get(h, -1) for _, h in self.cases])
        self.counts = np.asarray(self.x.sum(axis=0)).ravel()

    def _matrix(self, baskets) -> sp.csr_matrix:
        indptr, indices = [0], []
        for items in baskets:
            indices += [self.vocab[v] for v in items]
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.ones(len(indices)), indices, indptr), shape=(len(baskets), self.n_items), dtype=np.float64
        )

    def hit_rate(self, scores_fn, k: int, chunk: int = 512) -> float:
        """Share of carts whose held-out item is in the top k of scores_fn(cart rows) (cart excluded)."""
        hits = 0
        for lo in range(0, len(self.cases), chunk):
            hi = min(lo + chunk, len(self.cases))
            scores = np.asarray(scores_fn(self.carts[lo:hi]), dtype=np.float64)
            rows, cols = self.carts[lo:hi].nonzero()
            scores[rows, cols] = -np.inf
            scores[scores == 0] = -np.inf  # no evidence: not a recommendation
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]  # ties: first seen in the learning file
            ok = np.take_along_axis(scores, top, axis=1) > -np.inf
            hits += int(((top == self.held[lo:hi, None]) & ok).any(axis=1).sum())
        return hits / max(len(self.cases), 1)


def co_metric(d: Data, metric: str):
    co = (d.x.T @ d.x).tocsr()
    co.setdiag(0)
    co.eliminate_zeros()
    co = co.tocoo()
    ca, cb, n = d.counts[co.row], d.counts[co.col], d.x.shape[0]
    values = {
        "cooccurrence": co.data,
        "cosine": co.data / np.sqrt(ca * cb),
        "confidence": co.data / ca,
        "lift": co.data * n / (ca * cb),
    }[metric]
    s = sp.csr_matrix((values, (co.row, co.col)), shape=co.shape)
    return lambda carts: (carts @ s).toarray()


def ease_anchor(d: Data, lam: float = 50.0):
    g = (d.x.T @ d.x).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return lambda carts: carts @ b


def rp3_anchor(d: Data, alpha: float = 1.0, beta: float = 0.5, top_k: int = 100):
    """RP3β (Paudel et al.): P_ui row-normalised, P_iu row-normalised, W = P_iu P_ui / pop^β, top-k rows."""
    x = d.x
    pui = sp.diags(1.0 / np.maximum(np.asarray(x.sum(axis=1)).ravel(), 1)) @ x
    piu = sp.diags(1.0 / np.maximum(d.counts, 1)) @ x.T.tocsr()
    if alpha != 1.0:
        pui.data **= alpha
        piu.data **= alpha
    w = (piu @ pui).toarray()
    np.fill_diagonal(w, 0.0)
    w /= np.power(np.maximum(d.counts, 1), beta)[None, :]
    if top_k < w.shape[1]:
        cut = np.partition(w, -top_k, axis=1)[:, -top_k][:, None]
        w[w < cut] = 0.0
    ws = sp.csr_matrix(w)
    return lambda carts: (carts @ ws).toarray()


def implicit_anchor(d: Data, kind: str, **params):
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    model = (BM25Recommender if kind == "bm25" else CosineRecommender)(**params)
    model.fit(d.x.tocsr().astype(np.float32), show_progress=False)
    sim = model.similarity.tocsr()
    return lambda carts: (carts @ sim).toarray()


def run_posai(header, raw_rows, learn, test, k: int) -> tuple[float, float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        learn_path = os.path.join(tmp, "learn.csv.gz")
        with gzip.open(learn_path, "wt", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            for oid, _, _ in learn:
                w.writerows(raw_rows[oid])
        carts_path = os.path.join(tmp, "carts.jsonl")
        cases = [(items[:-1], items[-1]) for _, _, items in test if len(items) >= 2]
        with open(carts_path, "w") as f:
            f.writelines(json.dumps({"cart": cart}) + "\n" for cart, _ in cases)
        started = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "posai_app.reco.cli",
                "recommend-batch",
                learn_path,
                carts_path,
                "--k",
                str(k),
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            cwd=ROOT,
            check=True,
        )
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(answers) == len(cases) and all(
        a["cart"] == c for a, (c, _) in zip(answers, cases, strict=True)
    )
    hits = sum(held in a["recommendations"][:k] for a, (_, held) in zip(answers, cases, strict=True))
    chosen = next((line for line in done.stderr.splitlines() if line.startswith("chosen scorer")), "")
    return hits / max(len(cases), 1), seconds, cpu, chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("orders")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--skip-posai", action="store_true")
    args = parser.parse_args()
    header, raw_rows, orders = read(args.orders)
    learn, test = split(orders)
    d = Data(learn, test)
    print(f"{args.orders}: learn {len(learn)} orders ({d.n_items} variants), {len(d.cases)} held-out carts")
    results: list[tuple[str, float, float]] = []
    if not args.skip_posai:
        hit, seconds, cpu, chosen = run_posai(header, raw_rows, learn, test, args.k)
        results.append(("POSAI pipeline (recommend-batch)", hit, seconds))
    anchors = [
        ("EASE λ=50 (dense, all variants)", lambda: ease_anchor(d, 50.0)),
        ("RP3β (α=1, β=0.5, top-100)", lambda: rp3_anchor(d)),
    ]
    try:
        import implicit  # noqa: F401

        anchors += [
            (
                "implicit BM25 item-kNN (K=100, K1=1.2, B=0.75)",
                lambda: implicit_anchor(d, "bm25", K=100, K1=1.2, B=0.75),
            ),
            ("implicit BM25 item-kNN (defaults K=20, K1=100, B=0.8)", lambda: implicit_anchor(d, "bm25")),
            ("implicit cosine item-kNN (K=100)", lambda: implicit_anchor(d, "cosine", K=100)),
        ]
    except ImportError:
        print("(implicit is not installed: its anchors are skipped; pip install implicit)")
    anchors += [
        (f"original {m}", (lambda m=m: co_metric(d, m)))
        for m in ("cooccurrence", "cosine", "confidence", "lift")
    ]
    for name, build in anchors:
        started = time.perf_counter()
        hit = d.hit_rate(build(), args.k)
        results.append((name, hit, time.perf_counter() - started))
    width = max(len(n) for n, _, _ in results) + 2
    print(f"{'method':<{width}}{'HitRate@' + str(args.k):>12}{'seconds':>10}")
    for name, hit, took in results:
        print(f"{name:<{width}}{hit:>12.4f}{took:>10.1f}")
    if not args.skip_posai:
        posai = results[0][1]
        print(f"\n{chosen}")
        print(
            f"POSAI's whole recommend-batch process (read, tune, report, index, answer): "
            f"{seconds:.1f}s wall, {cpu:.1f}s CPU (the machine's load inflates the wall time)"
        )
        for name, hit, _ in results[1:]:
            print(f"POSAI {posai:.4f} vs {name} {hit:.4f}: {posai - hit:+.4f}")
        best_anchor = max(results[1:], key=lambda r: r[1])
        margin = posai - best_anchor[1]
        print(f"POSAI − best anchor ({best_anchor[0]}): {margin:+.4f}")


if __name__ == "__main__":
    main()

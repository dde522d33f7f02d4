"""evaluate(): the issue-3 protocol over the basic scorers, plus the popularity baseline."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from posai_app.reco.evaluation import MAX_CASES, Cases, EvaluationReport, Progress
from posai_app.reco.orders import Order
from posai_app.reco.scorers import BASIC, POPULARITY, basic_writers
from posai_app.reco.stats import History, Stats


def _noop(phase: str, done: int, total: int) -> None:
    return None


def evaluate(orders: Iterable[Order], k: int = 2, progress: Progress | None = None) -> EvaluationReport:
    """Figures of every basic scorer and popularity on the 80/20 time split; best = highest HitRate@K."""
    started = time.perf_counter()
    history = orders if isinstance(orders, History) else History.from_orders(list(orders))
    report = evaluate_history(history, k, progress or _noop)
    report.seconds = time.perf_counter() - started
    return report


def evaluate_history(history: History, k: int, progress: Progress) -> EvaluationReport:
    """evaluate() on an already indexed history."""
    cut = history.split()
    progress("statistics", 0, 1)
    stats = Stats.build(history, 0, cut)
    cases = Cases(history, cut, history.n_orders, MAX_CASES, np.diff(stats.co.indptr))
    progress("statistics", 1, 1)
    progress("evaluating", 0, 2)
    recs = cases.recommend_values(stats.co, basic_writers(BASIC, stats), k, stats.rank)
    results = {name: cases.figures(r, k) for name, r in zip(BASIC, recs, strict=True)}
    progress("evaluating", 1, 2)
    results[POPULARITY] = cases.figures(cases.popularity(stats, k), k)
    progress("evaluating", 2, 2)
    best = select_best(results, BASIC)
    report = EvaluationReport(k=k, train_orders=cut, evaluated_orders=cases.n, results=results, best=best)
    if cases.eligible > cases.n:
        report.selection["sampledFrom"] = cases.eligible
    return report


def select_best(results: dict[str, dict[str, float]], order: Iterable[str]) -> str:
    """Highest HitRate@K; a tie goes to the earlier name in `order`."""
    best = None
    for name in order:
        if name in results and (best is None or results[name]["hitRate"] > results[best]["hitRate"]):
            best = name
    return best or "popularity"

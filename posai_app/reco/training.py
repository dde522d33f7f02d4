"""train(): honest tuning and selection inside the training data, unbiased report, index on all orders.

Splits (orders sorted by created_at):
    |------------- outer train: first floor(0.8 n) -------------|--- validation ---|
    |---- inner train: floor(0.8 · outer) ----|-- inner val --|
Hyper-parameters and the serving scorer are chosen on the inner split only; each candidate is then
re-fitted on the outer train and measured on the validation orders it never saw (the report);
finally the chosen scorer is fitted on all orders and turned into the serving index.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from posai_app.reco.engine import _noop, select_best
from posai_app.reco.evaluation import MAX_CASES, Cases, EvaluationReport, Progress
from posai_app.reco.index import NeighborIndex, truncate
from posai_app.reco.orders import Order
from posai_app.reco.scorers import (
    BASIC,
    POPULARITY,
    SCORERS,
    SELECTION_ORDER,
    TUNING_ORDER,
    ScorerSpec,
    basic_writers,
)
from posai_app.reco.stats import History, Stats

TIME_BUDGET = 25.0  # seconds for tuning + report (the rest of the 60 s goes to loading and the index)
EASE_MAX_VARIANTS = 4000  # dense EASE cost grows with the cube of this
EASE_SECONDS_PER_GFLOP = 0.1  # pessimistic 2-core estimate, refined by the first fit


@dataclass
class TrainingResult:
    """What a training run produces: the report, the chosen scorer, and the serving index."""

    report: EvaluationReport
    metric: str
    params: dict[str, Any]
    index: NeighborIndex | None
    train_orders: int
    seconds: float
    history: History | None = field(default=None, repr=False)


class _Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.perf_counter() + seconds
        self.ease_rate = EASE_SECONDS_PER_GFLOP

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def ease_seconds(self, m: int) -> float:
        return self.ease_rate * (m**3) / 1e9

    def learn_ease(self, m: int, seconds: float) -> None:
        if m >= 500:
            self.ease_rate = max(seconds / (m**3 / 1e9), 1e-4)


def train(
    orders: Iterable[Order],
    k: int = 2,
    top_n: int = 50,
    progress: Progress | None = None,
    *,
    build_index: bool = True,
    time_budget: float = TIME_BUDGET,
    candidates: Iterable[str] | None = None,
) -> TrainingResult:
    """Tune and choose a scorer inside the training split, report it honestly, build the serving index."""
    started = time.perf_counter()
    progress = progress or _noop
    history = orders if isinstance(orders, History) else History.from_orders(list(orders))
    wanted = set(candidates or SELECTION_ORDER)
    names = [n for n in TUNING_ORDER if n in wanted and n in SCORERS]
    budget = _Budget(time_budget)
    has_times = bool(len(history.times)) and int(history.times[-1] - history.times[0]) > 0
    skipped: dict[str, str] = {}
    specs = []
    for name in names:
        if SCORERS[name].needs_times and not has_times:
            skipped[name] = "all orders have the same timestamp: no recency to weigh"
        else:
            specs.append(SCORERS[name])

    cut = history.split()
    inner_cut = history.split(cut)
    progress("statistics", 0, 2)
    inner_stats = Stats.build(history, 0, inner_cut)
    inner_cases = Cases(history, inner_cut, cut, MAX_CASES)
    outer_stats = Stats.build(history, 0, cut)
    outer_cases = Cases(history, cut, history.n_orders, MAX_CASES, np.diff(outer_stats.co.indptr))
    progress("statistics", 2, 2)

    # 1. Tuning and selection on the inner split, every candidate as it would be served (top-N rows).
    total = sum(len(s.grid) for s in specs)
    tuned: dict[str, tuple[dict[str, Any], float]] = {}
    done = 0
    for spec in specs:
        best_params, best_hit = None, -1.0
        for params in spec.grid:
            progress("tuning", done, total)
            done += 1
            why = _unaffordable(spec, params, inner_stats, budget)
            if why:
                skipped.setdefault(spec.name, why)
                continue
            sim = _timed_build(spec, params, inner_stats, budget)
            recs = inner_cases.recommend(truncate(sim, inner_stats.rank, top_n), k, inner_stats.rank)
            hit = inner_cases.figures(recs, k)["hitRate"]
            if hit > best_hit:
                best_params, best_hit = params, hit
        if best_params is not None:
            tuned[spec.name] = (dict(best_params), best_hit)
            skipped.pop(spec.name, None)
    progress("tuning", total, total)
    inner_figures = {name: hit for name, (_, hit) in tuned.items()}
    if inner_cases.n:
        chosen = select_best({n: {"hitRate": h} for n, h in inner_figures.items()}, SELECTION_ORDER)
        rule = "highest inner-split HitRate@K (served top-N form); ties to the earlier candidate"
    else:
        chosen = None
        rule = "no inner validation cases: highest validation HitRate@K among the basic scorers"

    # 2. The report: every candidate fitted on the outer train, measured on validation.
    progress("evaluating", 0, len(tuned) + 1)
    results: dict[str, dict[str, float]] = {}
    basic = [n for n in BASIC if n in tuned]
    if basic:
        recs = outer_cases.recommend_values(
            outer_stats.co, basic_writers(basic, outer_stats), k, outer_stats.rank
        )
        for name, r in zip(basic, recs, strict=True):
            results[name] = outer_cases.figures(r, k)
    results[POPULARITY] = outer_cases.figures(outer_cases.popularity(outer_stats, k), k)
    # The chosen candidate goes first so that a tight budget never skips it.
    report_order = sorted(tuned, key=lambda n: n != chosen)
    for i, name in enumerate(report_order):
        params = tuned[name][0]
        progress("evaluating", i + 1, len(tuned) + 1)
        if name in results:
            continue
        spec = SCORERS[name]
        why = None if name == chosen else _unaffordable(spec, params, outer_stats, budget)
        if why:
            skipped[name] = why
            continue
        sim = _timed_build(spec, params, outer_stats, budget)
        recs = outer_cases.recommend(truncate(sim, outer_stats.rank, top_n), k, outer_stats.rank)
        results[name] = outer_cases.figures(recs, k)
    progress("evaluating", len(tuned) + 1, len(tuned) + 1)
    if chosen is None or chosen not in results:
        chosen = select_best(results, BASIC)
        if inner_cases.n:
            rule += f"; the inner pick could not be evaluated, fell back to {chosen}"
    params = tuned.get(chosen, ({}, 0.0))[0]
    shown = [*BASIC, POPULARITY, *SELECTION_ORDER]
    results = {name: results[name] for name in dict.fromkeys(shown) if name in results}
    report = EvaluationReport(
        k=k,
        train_orders=cut,
        evaluated_orders=outer_cases.n,
        results=results,
        best=chosen,
        params={name: p for name, (p, _) in tuned.items() if name in results},
        selection={
            "rule": rule,
            "innerTrainOrders": inner_cut,
            "innerEvaluatedOrders": inner_cases.n,
            "innerHitRate": inner_figures,
            "chosen": chosen,
            **({"sampledFrom": outer_cases.eligible} if outer_cases.eligible > outer_cases.n else {}),
        },
        skipped=skipped,
    )

    # 3. The serving index: the chosen scorer on all orders.
    index = None
    if build_index:
        progress("index", 0, 1)
        all_stats = Stats.build(history, 0, history.n_orders)
        sim = SCORERS[chosen].build(all_stats, **_fit_params(SCORERS[chosen], params, all_stats))
        index = NeighborIndex.from_matrix(
            history.ids, all_stats.counts, all_stats.rank, sim, all_stats.co, top_n
        )
        progress("index", 1, 1)
    seconds = time.perf_counter() - started
    report.seconds = seconds
    return TrainingResult(report, chosen, params, index, history.n_orders, seconds, history)


def _fit_params(spec: ScorerSpec, params: dict[str, Any], stats: Stats) -> dict[str, Any]:
    out = dict(params)
    if spec.dense:
        out["max_variants"] = EASE_MAX_VARIANTS
    return out


def _unaffordable(spec: ScorerSpec, params: dict[str, Any], stats: Stats, budget: _Budget) -> str | None:
    """Why a fit would break the time budget (None when it fits); the cheap basic scorers always fit."""
    if spec.name in BASIC:
        return None
    if spec.dense:
        m = min(int((stats.counts > 0).sum()), EASE_MAX_VARIANTS)
        if budget.ease_seconds(m) > budget.left():
            return f"skipped: a {m}-variant EASE fit would exceed the {TIME_BUDGET:.0f}s training budget"
        return None
    if budget.left() <= 0:
        return f"skipped: the {TIME_BUDGET:.0f}s training budget was spent before this candidate"
    return None


def _timed_build(spec: ScorerSpec, params: dict[str, Any], stats: Stats, budget: _Budget):
    t = time.perf_counter()
    sim = spec.build(stats, **_fit_params(spec, params, stats))
    if spec.dense:
        budget.learn_ease(min(int((stats.counts > 0).sum()), EASE_MAX_VARIANTS), time.perf_counter() - t)
    return sim

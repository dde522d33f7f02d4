"""train(): tuning and selection on rolling splits inside the training data, unbiased report, index.

Splits (orders sorted by created_at; n_o = floor(0.8 n) outer training orders):
    |------------------- outer train: first n_o -------------------|--- validation ---|
    |------ fold 1 train: 0.7 n_o ------|val 1|                      (0.1 n_o each)
    |---------- fold 2 train: 0.8 n_o ----------|val 2|
    |-------------- fold 3 train: 0.9 n_o --------------|val 3|
Every grid and the serving scorer are chosen on the three folds only (their carts pooled); each
candidate is then re-fitted on the outer train and measured on the validation orders it never saw
(the report); finally the chosen scorer is fitted on all orders and turned into the serving index,
and so is the runner-up (the best other candidate on the folds): the live challenger.

Cart order (`cart_decay`): at the till a cart is built item by item, and the item added last says
most about the next one when a shop's orders list their lines in the order they were added. Each
model candidate (not the original design's basic scorers, reported as they were) is also tried
with its cart items' rows weighted cart_decay^(items added after it), cart_decay in CART_DECAYS;
a decay below 1 is kept only when it beats "every item counts fully" (1) on the folds by more than
the noise (1.96 paired standard errors), so a shop whose line order means nothing keeps 1. The
serving index carries the chosen decay (NeighborIndex.cart_decay), so the API weighs carts the same way.

Nothing here reads a clock to decide anything: the grids are scaled to the data, and the only
budget (dense EASE's variants) is planned in multiply-adds from the data's shape before any fit,
so the same history gives the same choice, figures and index on an idle or a busy machine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from posai_app.reco.evaluation import (
    MAX_CASES,
    Cases,
    EvaluationReport,
    Progress,
    _noop,
    engine_threads,
    select_best,
)
from posai_app.reco.index import NeighborIndex
from posai_app.reco.orders import Order
from posai_app.reco.scorers import (
    BASIC,
    POPULARITY,
    SCORERS,
    SELECTION_ORDER,
    ScorerSpec,
    basic_writers,
    lapack_threads_control,
    single_threaded_lapack,
    sparse_ease,
    sparse_tail,
)
from posai_app.reco.stats import DAY_US, History, Stats
from posai_app.reco.topk import top_positive_positions

FOLD_STARTS = (0.7, 0.8, 0.9)  # each fold trains on this share of the outer train, validates on the next 0.1
EASE_WORK = 2e11  # multiply-adds (variants³ per dense fit) for the tuning fits, and again for the served ones
EASE_MIN_VARIANTS = 500  # never plan dense EASE on fewer than this head (it is cheap there anyway)
SPARSE_TAIL_WORK = 2e11  # multiply-adds of the tail's small systems (sparse EASE), per served fit at most
SPARSE_TAIL_GATHER = 3e8  # co entries gathered into them, per served fit at most: beyond either (a dense
# catalog far larger than the dense head), the served fits keep dense EASE on its planned head
LAMBDA_FACTORS = (0.25, 1.0, 4.0)  # λ = factor × mean diagonal of XᵀX (a log-spaced grid around it)
HALF_LIFE_SHARES = (0.25, 0.5, 1.0)  # half-lives as shares of the outer train's time span
BLEND_WEIGHTS = (0.25, 0.5, 0.75)  # weight of the leader in a blend with the runner-up
CART_DECAYS = (1.0, 0.5, 0.25, 0.125)  # weight ratio of a cart item to the one added after it (1: no order)
Z95 = 1.959964  # two-sided 95 % normal quantile
FOLD_THREADS = 2  # sparse candidates' folds fitted side by side (each holds its fold's matrices)
RUNAWAY_SECONDS = 1800.0  # a wall-clock guard against a runaway job; it stops, never steers, a run


class TrainingRunaway(RuntimeError):
    """Training ran far beyond its planned work (a sick machine or a bug): stopped with this error."""


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
    # The challenger (champion–challenger on live traffic): the best inner candidate that is not
    # the chosen scorer, its settings and its serving index (None without inner cases).
    runner_up: str | None = None
    runner_up_params: dict[str, Any] | None = None
    runner_up_index: NeighborIndex | None = field(default=None, repr=False)


@dataclass
class _Fold:
    stats: Stats
    cases: Cases


@dataclass
class _Tuned:
    params: dict[str, Any]
    hits: np.ndarray  # per pooled inner case: did the served top-K contain the held-out item
    grid: list[tuple[dict[str, Any], float]]
    cart_decay: float = 1.0
    decays: dict[float, float] = field(default_factory=dict)  # inner HitRate by cart_decay tried

    @property
    def shown_params(self) -> dict[str, Any]:
        """The settings as reported: the scorer's own, plus the cart decay when it is not 1."""
        return {**self.params, "cart_decay": self.cart_decay} if self.cart_decay != 1.0 else dict(self.params)

    @property
    def rate(self) -> float:
        return float(self.hits.mean()) if len(self.hits) else 0.0


def train(
    orders: Iterable[Order],
    k: int = 2,
    top_n: int = 50,
    progress: Progress | None = None,
    *,
    build_index: bool = True,
    build_runner_up: bool = True,
    candidates: Iterable[str] | None = None,
    runaway_seconds: float = RUNAWAY_SECONDS,
) -> TrainingResult:
    """Tune and choose a scorer on rolling inner splits, report it honestly, build the serving index
    (and the runner-up's, the live challenger, unless `build_runner_up` is False)."""
    started = time.perf_counter()
    progress = progress or _noop
    guard = _Guard(started, runaway_seconds)
    history = orders if isinstance(orders, History) else History.from_orders(list(orders))
    wanted = set(candidates or SELECTION_ORDER)
    cut = history.split()
    has_times, no_times_why = _times_usable(history, cut)
    skipped: dict[str, str] = {}
    specs = []
    for name in SELECTION_ORDER:
        if name not in wanted:
            continue
        if SCORERS[name].needs_times and not has_times:
            skipped[name] = f"left out: {no_times_why}"
        else:
            specs.append(SCORERS[name])

    progress("statistics", 0, 2)
    bounds = [int(share * cut) for share in FOLD_STARTS] + [cut]
    folds = [
        _Fold(stats, Cases(history, lo, hi, MAX_CASES, np.diff(stats.co.indptr)))
        for lo, hi in zip(bounds, bounds[1:], strict=False)
        for stats in (Stats.build(history, 0, lo),)
    ]
    folds = [f for f in folds if f.cases.n]
    outer_stats = Stats.build(history, 0, cut)
    outer_cases = Cases(history, cut, history.n_orders, MAX_CASES, np.diff(outer_stats.co.indptr))
    progress("statistics", 2, 2)

    grids = _grids(outer_stats, has_times)
    plan = _plan(history, specs, grids, folds, outer_stats)

    def fit(spec: ScorerSpec, params: dict[str, Any], stats: Stats, serving: bool = True) -> sp.csr_matrix:
        guard.check(spec.name)
        if spec.dense and serving and plan.serve_sparse:
            return sparse_ease(stats, **_fit_params(spec, params, plan, serving))
        return spec.build(stats, **_fit_params(spec, params, plan, serving))

    # 1. Tuning and selection on the folds: every candidate as it would be served (top-N rows).
    parallel_dense = lapack_threads_control() is not None
    workers = min(len(folds), FOLD_THREADS, engine_threads())
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    with single_threaded_lapack(), pool or nullcontext():
        tuned: dict[str, _Tuned] = {}
        # Per-fold matrices of the two best candidates so far: a blend of the final two needs no refit.
        kept: dict[str, list[sp.csr_matrix]] = {}
        total = sum(len(grids[s.name]) for s in specs)
        done = 0
        for spec in specs:
            base = tuned.get(spec.decays) if spec.decays else None
            points = [{**(base.params if base else {}), **p} for p in grids[spec.name]]
            tried = []
            best, best_sims = None, None
            extended = False
            while points:
                params = points.pop(0)
                progress("tuning", done, total)
                done += 1

                def on_fold(f: _Fold, spec=spec, params=params) -> tuple[sp.csr_matrix, np.ndarray]:
                    sim = fit(spec, params, f.stats, serving=False)
                    return sim, _served_hits(sim, f, k, top_n)

                # Folds are independent (each has its own statistics and caches): they run side by
                # side, since scipy's products, numpy's sorts and LAPACK release the GIL. Dense EASE
                # too when its LAPACK runs on one thread (else in turn: its factorisation would use
                # every core). Results come back in fold order, so nothing depends on which thread
                # finished first.
                run = pool.map if pool is not None and (not spec.dense or parallel_dense) else map
                sims, fold_hits = zip(*run(on_fold, folds), strict=True) if folds else ((), ())
                sims = list(sims)
                hits = np.concatenate(list(fold_hits) or [np.zeros(0, bool)])
                rate = float(hits.mean()) if len(hits) else 0.0
                tried.append((params, rate))
                if best is None or rate > best.rate:  # ties keep the earlier (simpler, listed first) point
                    best, best_sims = _Tuned(dict(params), hits, tried), sims
                del sims
                if not points and not extended:
                    # A best value on the edge of a log-spaced grid: one more step beyond that edge.
                    extended = True
                    points = _beyond_edge(spec.name, tried, best)
                    total += len(points)
            if best is not None:
                if spec.name not in BASIC:
                    _tune_cart_decay(best, best_sims, folds, k, top_n)
                tuned[spec.name] = best
                kept[spec.name] = best_sims
                for name in _ranked(tuned)[2:]:
                    kept.pop(name, None)
            del best_sims
        progress("tuning", total, total)

        selection, chosen, blend = _select(tuned, folds, kept, k, top_n)
        del kept

        # 2. The report: every candidate fitted on the outer train, measured on validation.
        members = blend["of"] if blend else []
        todo = [name for name in tuned if name not in BASIC or name in members]
        progress("evaluating", 0, len(todo) + 1)
        results: dict[str, dict[str, float]] = {}
        basic = [n for n in BASIC if n in tuned]
        if basic:
            recs = outer_cases.recommend_values(
                outer_stats.co, basic_writers(basic, outer_stats), k, outer_stats.rank
            )
            for name, r in zip(basic, recs, strict=True):
                results[name] = outer_cases.figures(r, k)
        results[POPULARITY] = outer_cases.figures(outer_cases.popularity(outer_stats, k), k)
        outer_sims: dict[str, sp.csr_matrix] = {}

        def on_outer(name: str) -> tuple[sp.csr_matrix | None, dict[str, float] | None]:
            sim = fit(SCORERS[name], tuned[name].params, outer_stats)
            figures = None
            if name not in results:
                figures = _served_figures(sim, outer_stats, outer_cases, k, top_n, tuned[name].cart_decay)
            return (sim if name in members else None), figures

        # Candidates are fitted and measured side by side (results kept by name, in order).
        outer = (pool.map if pool else map)(on_outer, todo)
        for i, (name, (sim, figures)) in enumerate(zip(todo, outer, strict=True)):
            progress("evaluating", i + 1, len(todo) + 1)
            if sim is not None:
                outer_sims[name] = sim
            if figures is not None:
                results[name] = figures
        if blend:
            sim = _blend(outer_sims, blend, outer_stats)
            results[chosen] = _served_figures(sim, outer_stats, outer_cases, k, top_n, blend["cart_decay"])
        progress("evaluating", len(todo) + 1, len(todo) + 1)
        if chosen is None:
            chosen = select_best(results, BASIC)
            selection["chosen"] = chosen
        params = _chosen_params(chosen, blend, tuned)
        runner_up = _runner_up(tuned, chosen) if selection.get("innerEvaluatedOrders") else None
        if runner_up is not None:
            selection["runnerUp"] = runner_up
        shown = [*BASIC, POPULARITY, *SELECTION_ORDER, chosen]
        results = {name: results[name] for name in dict.fromkeys(shown) if name in results}
        if outer_cases.eligible > outer_cases.n:
            selection["sampledFrom"] = outer_cases.eligible
        selection["plan"] = plan.describe()
        report = EvaluationReport(
            k=k,
            train_orders=cut,
            evaluated_orders=outer_cases.n,
            results=results,
            best=chosen,
            params={
                **{name: t.shown_params for name, t in tuned.items() if name in results},
                **({chosen: params} if blend else {}),
            },
            selection=selection,
            skipped=skipped,
        )

        # 3. The serving index: the chosen scorer on all orders (and the runner-up, the challenger).
        index = runner_up_index = None
        if build_index:
            progress("index", 0, 1)
            all_stats = Stats.build(history, 0, history.n_orders)
            sims = {}
            decay = blend["cart_decay"] if blend else tuned[chosen].cart_decay if chosen in tuned else 1.0
            if blend:
                members = blend["of"]
                fitted = (pool.map if pool else map)(
                    lambda name: fit(SCORERS[name], tuned[name].params, all_stats), members
                )
                sims = dict(zip(members, fitted, strict=True))
                sim = _blend(sims, blend, all_stats)
            else:
                sim = fit(SCORERS[chosen], tuned[chosen].params if chosen in tuned else params, all_stats)
            index = NeighborIndex.from_matrix(
                history.ids, all_stats.counts, all_stats.rank, sim, all_stats.co, top_n, decay
            )
            if build_runner_up and runner_up is not None:
                # A blend's members are fitted already: its leader (the usual runner-up) costs nothing.
                other = sims.get(runner_up)
                if other is None:
                    other = fit(SCORERS[runner_up], tuned[runner_up].params, all_stats)
                runner_up_index = NeighborIndex.from_matrix(
                    history.ids,
                    all_stats.counts,
                    all_stats.rank,
                    other,
                    all_stats.co,
                    top_n,
                    tuned[runner_up].cart_decay,
                )
            progress("index", 1, 1)
        seconds = time.perf_counter() - started
        report.seconds = seconds
        return TrainingResult(
            report,
            chosen,
            params,
            index,
            history.n_orders,
            seconds,
            history,
            runner_up=runner_up,
            runner_up_params=tuned[runner_up].shown_params if runner_up else None,
            runner_up_index=runner_up_index,
        )


class _Guard:
    """Stops a run that exceeds a generous wall-clock limit. It never changes what is computed."""

    def __init__(self, started: float, seconds: float) -> None:
        self.started, self.seconds = started, seconds

    def check(self, what: str) -> None:
        elapsed = time.perf_counter() - self.started
        if elapsed > self.seconds:
            raise TrainingRunaway(
                f"training stopped after {elapsed:.0f}s (limit {self.seconds:.0f}s) before fitting {what}: "
                "far beyond its planned work; the machine is overloaded or the history is larger than planned"
            )


def _times_usable(history: History, cut: int) -> tuple[bool, str]:
    if not getattr(history, "has_times", True):
        return False, "the orders carry no timestamps (file order): no recency to weigh"
    times = history.times[:cut]
    if not len(times) or int(times[-1] - times[0]) <= 0:
        return False, "all training orders have the same timestamp: no recency to weigh"
    return True, ""


def _grids(stats: Stats, has_times: bool) -> dict[str, list[dict[str, Any]]]:
    """Each candidate's grid, scaled to the outer training data (never to one shop's results).

    λ is log-spaced around the mean diagonal of XᵀX (orders per known variant); half-lives are
    shares of the outer train's time span in whole days. A decayed candidate starts from its
    undecayed twin's best settings and tunes only the half-life; "no decay" is the twin itself.
    """
    known = stats.counts[stats.counts > 0]
    mean_diag = float(known.mean()) if len(known) else 1.0
    grids: dict[str, list[dict[str, Any]]] = {name: [{}] for name in BASIC}
    grids["asymmetric"] = [{"alpha": a, "shrink": 10.0} for a in (0.25, 0.5, 0.75)]
    grids["bm25"] = [{"k1": 1.2, "b": b} for b in (0.5, 0.75, 1.0)]
    grids["rp3beta"] = [{"beta": b} for b in (0.0, 0.25, 0.5, 0.75)]
    grids["ease"] = [{"lam": _round(f * mean_diag)} for f in LAMBDA_FACTORS]
    half_lives: list[dict[str, Any]] = []
    if has_times:
        times = stats.history.times[stats.start : stats.stop]
        span_days = (int(times[-1]) - int(times[0])) / DAY_US
        half_lives = [{"half_life": float(max(1, round(s * span_days)))} for s in HALF_LIFE_SHARES]
        half_lives = [dict(p) for p in {tuple(p.items()): p for p in half_lives}.values()]
    for name in ("asymmetric_decay", "rp3beta_decay", "ease_decay"):
        grids[name] = half_lives
    return grids


LOG_GRIDS = {"ease": "lam"}  # grids spaced by a factor (LAMBDA_STEP) that may grow one step at an edge
LAMBDA_STEP = 4.0


def _beyond_edge(name: str, tried: list[tuple[dict[str, Any], float]], best: _Tuned) -> list[dict[str, Any]]:
    key = LOG_GRIDS.get(name)
    if key is None or len(tried) < 2:
        return []
    values = sorted(p[key] for p, _ in tried)
    if best.params[key] == values[0]:
        return [{**best.params, key: _round(values[0] / LAMBDA_STEP)}]
    if best.params[key] == values[-1]:
        return [{**best.params, key: _round(values[-1] * LAMBDA_STEP)}]
    return []


def _round(value: float) -> float:
    """Two significant digits: grid values a person can read (and that do not drift in the last bit)."""
    if value <= 0:
        return 1.0
    digits = 1 - int(math.floor(math.log10(value)))
    return float(round(value, digits))


@dataclass
class _Plan:
    """Dense EASE's heads (most-bought variants first): one for the tuning fits, one for the served fits."""

    tune_variants: int
    serve_variants: int
    known_variants: int
    tune_fits: int
    serve_fits: int
    serve_sparse: bool = False  # report and index use the sparse approximation on every known variant

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "knownVariants": self.known_variants,
            "easeTuningVariants": self.tune_variants,
            "easeTuningFits": self.tune_fits,
            "easeServedVariants": self.serve_variants,
            "easeServedFits": self.serve_fits,
            "easeWork": f"{EASE_WORK:.0e} multiply-adds for tuning, as much again for report and index",
        }
        cuts = []
        if self.tune_fits and self.tune_variants < self.known_variants:
            cuts.append(f"tuning fits on the {self.tune_variants} most-bought")
        if self.serve_sparse:
            out["easeServed"] = (
                f"sparse approximation (sparse_ease) on all {self.known_variants} variants: dense EASE on "
                f"the {self.serve_variants} most-bought, each other one regressed on its co-neighbours"
            )
        elif self.serve_fits and self.serve_variants < self.known_variants:
            cuts.append(f"report and index fits on the {self.serve_variants} most-bought")
        if cuts:
            out["cut"] = (
                f"dense EASE: {' and '.join(cuts)} of {self.known_variants} variants "
                "(fits × variants³ within the planned multiply-adds)"
            )
        return out


def _plan(
    history: History,
    specs: list[ScorerSpec],
    grids: dict[str, list[dict[str, Any]]],
    folds: list[_Fold],
    outer_stats: Stats,
) -> _Plan:
    """Dense EASE's heads from the shape alone: every fit the run will make, counted up front.

    Tuning makes grid × folds fits per dense candidate (plus one possible step beyond a log grid's
    edge); the report one outer fit each, the index at
    most two (a blend's members reuse their tuning fits on the folds). Each group gets EASE_WORK.
    """
    dense = [s for s in specs if s.dense]
    tune_fits = sum((len(grids[s.name]) + (s.name in LOG_GRIDS)) * len(folds) for s in dense)
    # Counted as if the index is built even when it is not (`posai evaluate --tuned`): the report
    # must not depend on whether an index follows it.
    serve_fits = len(dense) + min(2, len(dense))
    known = int((np.bincount(history.indices, minlength=history.n_variants) > 0).sum())

    def head(fits: int) -> int:
        if not fits:
            return known
        return min(known, max(EASE_MIN_VARIANTS, int((EASE_WORK / fits) ** (1 / 3))))

    serve = head(serve_fits)
    # Beyond the served head, the report and the index use sparse EASE (the head dense, the tail
    # as small regressions) when its tail's work, counted on the outer train, is within bounds.
    sparse = False
    if serve_fits and serve < known:
        solves, gathered = sparse_tail(outer_stats, serve).work()
        sparse = solves <= SPARSE_TAIL_WORK and gathered <= SPARSE_TAIL_GATHER
    return _Plan(head(tune_fits), serve, known, tune_fits, serve_fits, sparse)


def _fit_params(spec: ScorerSpec, params: dict[str, Any], plan: _Plan, serving: bool) -> dict[str, Any]:
    out = dict(params)
    if spec.dense:
        out["max_variants"] = plan.serve_variants if serving else plan.tune_variants
    return out


def _served_hits(sim: sp.csr_matrix, fold: _Fold, k: int, top_n: int, cart_decay: float = 1.0) -> np.ndarray:
    """Per fold cart: a hit of the served form (each row's top-N). Only rows of cart items matter,
    so only they are cut to their top N (the same result as cutting every row, for less work)."""
    return fold.cases.hits(_served_recommendations(sim, fold.stats, fold.cases, k, top_n, cart_decay))


def _tune_cart_decay(best: _Tuned, sims: list[sp.csr_matrix], folds: list[_Fold], k: int, top_n: int) -> None:
    """Try the candidate's fold matrices with each CART_DECAYS weighting; keep a decay below 1 only
    when it beats 1 by more than the noise (paired, 1.96 standard errors), else 1."""
    best.decays = {1.0: round(best.rate, 6)}
    if not folds:
        return
    chosen, chosen_hits = 1.0, best.hits
    for decay in CART_DECAYS[1:]:
        per_fold = [_served_hits(sim, f, k, top_n, decay) for sim, f in zip(sims, folds, strict=True)]
        hits = np.concatenate(per_fold)
        best.decays[decay] = round(float(hits.mean()), 6)
        diff, se = _paired(hits, best.hits)
        if diff > Z95 * se and hits.mean() > chosen_hits.mean():
            chosen, chosen_hits = decay, hits
    best.cart_decay, best.hits = chosen, chosen_hits


def _served_recommendations(
    sim: sp.csr_matrix, stats: Stats, cases: Cases, k: int, top_n: int, cart_decay: float = 1.0
) -> np.ndarray:
    """Top-K for every case from the served form of sim: the cart items' rows cut to their top-N
    positive entries (index.truncate's entries, in the same order), other rows empty."""
    used = np.zeros(sim.shape[0], dtype=bool)
    used[cases.cart] = True
    kept, counts = top_positive_positions(sim.indptr, sim.indices, sim.data, top_n, stats.rank, used)
    indptr = np.zeros(sim.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    served = sp.csr_matrix((sim.data[kept], sim.indices[kept], indptr), shape=sim.shape)
    return cases.recommend(served, k, stats.rank, cart_decay)


def _served_figures(
    sim, stats: Stats, cases: Cases, k: int, top_n: int, cart_decay: float = 1.0
) -> dict[str, float]:
    return cases.figures(_served_recommendations(sim, stats, cases, k, top_n, cart_decay), k)


def _interval(hits: np.ndarray) -> list[float]:
    """95 % normal interval of a HitRate from its cases."""
    n = len(hits)
    if not n:
        return [0.0, 0.0]
    p = float(hits.mean())
    half = Z95 * math.sqrt(p * (1 - p) / n)
    return [round(max(0.0, p - half), 6), round(min(1.0, p + half), 6)]


def _paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of the per-cart difference a − b (same carts)."""
    d = a.astype(np.float64) - b.astype(np.float64)
    if len(d) < 2:
        return float(d.mean()) if len(d) else 0.0, 0.0
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))


def _scale(sim: sp.csr_matrix) -> float:
    """A scorer's typical strength: the mean over rows of their largest positive value."""
    data = np.where(sim.data > 0, sim.data, 0.0)
    rows = np.flatnonzero(np.diff(sim.indptr))
    if not len(rows):
        return 1.0
    top = np.maximum.reduceat(data, sim.indptr[rows])
    top = top[top > 0]
    return float(top.mean()) if len(top) else 1.0


def _blend(sims: dict[str, sp.csr_matrix], blend: dict[str, Any], stats: Stats) -> sp.csr_matrix:
    """w · S₁/scale₁ + (1 − w) · S₂/scale₂ on the co-occurrence entries both share."""
    first, second = blend["of"]
    w = blend["weight"]
    a, b = sims[first], sims[second]
    data = (w / _scale(a)) * a.data + ((1.0 - w) / _scale(b)) * b.data
    return sp.csr_matrix((data, stats.co.indices, stats.co.indptr), shape=stats.co.shape)


def _select(
    tuned: dict[str, _Tuned],
    folds: list[_Fold],
    kept: dict[str, list[sp.csr_matrix]],
    k: int,
    top_n: int,
) -> tuple[dict[str, Any], str | None, dict[str, Any] | None]:
    """The serving scorer from the pooled fold carts: the leader, or a blend with the runner-up.

    The leader (highest pooled inner HitRate@K; ties to the earlier candidate) is compared with
    the runner-up cart by cart (paired differences → standard error) and fold by fold. A blend of
    the two (weight tuned on the same carts) is served when it does at least as well as the leader,
    or when the leader's lead is within noise (under 1.96 standard errors) or not won in every fold
    and the blend does at least as well as the runner-up.
    """
    n_cases = sum(f.cases.n for f in folds)
    selection: dict[str, Any] = {
        "rule": (
            "highest pooled HitRate@K over 3 rolling inner folds (served top-N form); a blend of the "
            "two best when it is at least as good, or when the lead is within noise or not won in every fold"
        ),
        "folds": [{"trainOrders": f.stats.stop, "evaluatedOrders": f.cases.n} for f in folds],
        "innerEvaluatedOrders": n_cases,
        "innerHitRate": {name: round(t.rate, 6) for name, t in tuned.items()},
        "innerInterval95": {name: _interval(t.hits) for name, t in tuned.items()},
        "grids": {
            name: [[p, round(r, 6)] for p, r in t.grid] for name, t in tuned.items() if len(t.grid) > 1
        },
        "cartDecay": {
            name: {"chosen": t.cart_decay, "innerHitRate": {str(d): r for d, r in t.decays.items()}}
            for name, t in tuned.items()
            if t.decays
        },
    }
    if not n_cases or not tuned:
        selection["rule"] = "no inner validation cases: highest validation HitRate@K among the basic scorers"
        selection["chosen"] = None
        return selection, None, None
    order = _ranked(tuned)
    leader = order[0]
    selection["chosen"] = leader
    if len(order) < 2:
        return selection, leader, None
    runner = order[1]
    diff, se = _paired(tuned[leader].hits, tuned[runner].hits)
    offsets = np.cumsum([0] + [f.cases.n for f in folds])
    per_fold = [
        float(tuned[leader].hits[lo:hi].mean() - tuned[runner].hits[lo:hi].mean())
        for lo, hi in zip(offsets, offsets[1:], strict=False)
    ]
    within_noise = diff <= Z95 * se
    consistent = all(d > 0 for d in per_fold)
    # Blends: both candidates fitted once per fold, their normalised scores mixed at each weight,
    # served with the cart decays the two chose (one, if they agree).
    decays = sorted({tuned[leader].cart_decay, tuned[runner].cart_decay}, reverse=True)
    grid = [(w, d) for w in BLEND_WEIGHTS for d in decays]
    blend_hits: dict[tuple[float, float], list[np.ndarray]] = {point: [] for point in grid}
    for i, f in enumerate(folds):
        sims = {name: kept[name][i] for name in (leader, runner)}
        for w in BLEND_WEIGHTS:
            sim = _blend(sims, {"of": [leader, runner], "weight": w}, f.stats)
            for d in decays:
                blend_hits[w, d].append(_served_hits(sim, f, k, top_n, d))
    rates = {point: float(np.concatenate(h).mean()) for point, h in blend_hits.items()}
    # Best rate; ties to the weight nearer ½, then the larger decay (closer to "no order").
    weight, decay = max(grid, key=lambda p: (rates[p], -abs(p[0] - 0.5), p[1]))
    hits = np.concatenate(blend_hits[weight, decay])
    b_diff, b_se = _paired(hits, tuned[leader].hits)
    selection["margin"] = {
        "leader": leader,
        "runnerUp": runner,
        "difference": round(diff, 6),
        "standardError": round(se, 6),
        "perFold": [round(d, 6) for d in per_fold],
        "withinNoise": bool(within_noise),
        "wonEveryFold": bool(consistent),
    }
    name = f"{leader}+{runner}"
    selection["blend"] = {
        "name": name,
        "weight": weight,
        "cartDecay": decay,
        "innerHitRate": round(rates[weight, decay], 6),
        "innerInterval95": _interval(hits),
        "byWeight": {str(w): round(rates[w, decay], 6) for w in BLEND_WEIGHTS},
        "differenceToLeader": round(b_diff, 6),
        "standardError": round(b_se, 6),
    }
    use_blend = rates[weight, decay] >= tuned[leader].rate or (
        (within_noise or not consistent) and rates[weight, decay] >= tuned[runner].rate
    )
    if not use_blend:
        return selection, leader, None
    selection["chosen"] = name
    return selection, name, {"of": [leader, runner], "weight": weight, "cart_decay": decay}


def _ranked(tuned: dict[str, _Tuned]) -> list[str]:
    """Candidates by pooled inner HitRate, best first; ties to the earlier in SELECTION_ORDER."""
    return sorted(tuned, key=lambda n: (-tuned[n].rate, SELECTION_ORDER.index(n)))


def _runner_up(tuned: dict[str, _Tuned], chosen: str | None) -> str | None:
    """The best inner candidate other than the chosen scorer (a blend's leader when a blend is chosen)."""
    return next((name for name in _ranked(tuned) if name != chosen), None)


def _chosen_params(chosen: str, blend: dict[str, Any] | None, tuned: dict[str, _Tuned]) -> dict[str, Any]:
    if blend:
        first, second = blend["of"]
        out = {
            "of": [first, second],
            "weight": blend["weight"],
            first: dict(tuned[first].params),
            second: dict(tuned[second].params),
        }
        if blend["cart_decay"] != 1.0:
            out["cart_decay"] = blend["cart_decay"]
        return out
    return tuned[chosen].shown_params if chosen in tuned else {}

"""The evaluation protocol: held-out last items of later orders, scored in batches, HitRate@K and friends.

`evaluate()` (the original protocol over the basic scorers, plus popularity: `posai evaluate`) is at the end.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from posai_app.reco.index import cart_weight
from posai_app.reco.orders import Order
from posai_app.reco.scorers import BASIC, POPULARITY, basic_writers
from posai_app.reco.stats import History, Stats
from posai_app.reco.topk import row_ids, topk_rows

MAX_CASES = (
    10_000  # validation carts evaluated at most (evenly spaced sample beyond; small shops are never sampled)
)
WORK_CAP = 60_000_000  # total multiply-adds of a sampled evaluation (only applies when sampling)
MIN_SAMPLE = 2_000
WORK_LIMIT = 4_000_000  # multiply-adds per scoring chunk: bounds the memory of one sparse product
MIN_CHUNK_WORK = 250_000  # below this a chunk is not worth a thread hand-off
CHUNKS_PER_WORKER = 12
PARALLEL_MIN_ENTRIES = 200_000  # below this, a pack's two scorers are written on one thread
MAX_THREADS = 4  # each running chunk holds its own product: memory grows with the thread count
SELF_SCORE = -1e300  # far below FLOOR (topk): marks cart items inside the product
Progress = Callable[[str, int, int], None]
Writer = Callable[[np.ndarray], None]  # fills an array with a similarity matrix's values


def engine_threads() -> int:
    """Threads for scoring: POSAI_ENGINE_THREADS, else the CPUs this process may use (at most MAX_THREADS)."""
    configured = os.environ.get("POSAI_ENGINE_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, available))


def scratch_array(scratch: dict, name: str, size: int, dtype, fill=None) -> np.ndarray:
    """A 1-d array of `size` items of `dtype` over memory kept in `scratch` under `name`.

    The memory is made, or grown, on demand and reused between calls, whatever the dtype (arrays
    with a `fill` are filled when made and kept per dtype): reuse saves a short-lived process the
    page faults of fresh memory.
    """
    dtype = np.dtype(dtype)
    if fill is not None:
        key = (name, dtype)
        have = scratch.get(key)
        if have is None or len(have) < size:
            have = scratch[key] = np.full(size, fill, dtype=dtype)
        return have[:size]
    nbytes = size * dtype.itemsize
    have = scratch.get(name)
    if have is None or len(have) < nbytes:
        # complex128 storage: aligned for every dtype viewed over it (sparsetools copies unaligned arrays)
        have = scratch[name] = np.empty(-(-nbytes // 16), dtype=np.complex128).view(np.uint8)
    return have[:nbytes].view(dtype)


def cart_weights(lengths: np.ndarray, cart_decay: float) -> np.ndarray:
    """Each cart item's weight, carts given by their lengths: cart_decay^(items added after it).

    The last item added weighs 1, the one before it cart_decay, and so on (index.cart_weight, which
    NeighborIndex.recommend uses too); cart_decay = 1 weighs every item 1.
    """
    total = int(lengths.sum())
    if cart_decay == 1.0 or total == 0:
        return np.ones(total)
    ends = np.cumsum(lengths)
    after = np.repeat(ends, lengths) - 1 - np.arange(total)
    # Python's float power, as NeighborIndex.recommend computes it: the same bits in both places.
    table = np.array([cart_weight(cart_decay, d) for d in range(int(lengths.max()))])
    return table[after]


def _matmat(n_rows, n_cols, a_indptr, a_indices, b_indptr, b_indices, b_data, nnz, scratch, a_data=None):
    """CSR product of a 0/1 matrix (values `a_data` if given; stored order kept) with B.

    Returns (indptr, indices, values).

    `nnz` bounds the product's entries (the multiply-adds will do: pages of the output arrays
    past the real size are never touched). `scratch` keeps the output arrays between calls.
    """
    from scipy.sparse import _sparsetools

    if nnz >= 2**31 - 1:
        raise MemoryError("scoring chunk too large")  # chunks() keeps products far below this
    idx = a_indices.dtype
    indptr = scratch_array(scratch, "indptr", n_rows + 1, idx)
    indices = scratch_array(scratch, "indices", nnz, idx)
    values = scratch_array(scratch, "values", nnz, b_data.dtype)
    if a_data is None:
        a_data = scratch_array(scratch, "ones", len(a_indices), b_data.dtype, fill=1)
    else:
        a_data = a_data.astype(b_data.dtype, copy=False)
    _sparsetools.csr_matmat(
        n_rows, n_cols, a_indptr, a_indices, a_data, b_indptr, b_indices, b_data, indptr, indices, values
    )
    used = int(indptr[-1])
    return indptr, indices[:used], values[:used]


def _write(writer: Writer, out: np.ndarray) -> None:
    writer(out)


def _spaced(rows: np.ndarray, count: int) -> np.ndarray:
    return rows[np.unique(np.linspace(0, len(rows) - 1, count).round().astype(np.int64))]


def _cart_work(history: History, chosen: np.ndarray, row_nnz: np.ndarray) -> int:
    """Multiply-adds of scoring these orders' carts against rows of these sizes."""
    lengths = history.lengths[chosen] - 1
    starts = np.repeat(history.indptr[chosen], lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return int(row_nnz[history.indices[starts + offsets]].sum())


class Cases:
    """Validation cases of orders [start, stop): cart = all items but the last, held out = the last."""

    def __init__(
        self,
        history: History,
        start: int,
        stop: int,
        max_cases: int | None = None,
        row_nnz: np.ndarray | None = None,
    ) -> None:
        lengths = history.lengths[start:stop]
        chosen = np.flatnonzero(lengths >= 2) + start
        self.eligible = len(chosen)
        if max_cases is not None and len(chosen) > max_cases:
            # Very large histories: an evenly spaced (deterministic) sample of the cases keeps
            # evaluation time bounded; the report says how many were eligible.
            chosen = _spaced(chosen, max_cases)
            if row_nnz is not None:
                # ... and fewer still when their carts touch huge neighbourhoods (exact products).
                work = _cart_work(history, chosen, row_nnz)
                if work > WORK_CAP:
                    chosen = _spaced(chosen, max(MIN_SAMPLE, int(len(chosen) * WORK_CAP / work)))
        self.order_rows = chosen
        cart_lengths = history.lengths[chosen] - 1
        begins = history.indptr[chosen]
        self.n = len(chosen)
        self.n_variants = history.n_variants
        self.indptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(cart_lengths, out=self.indptr[1:])
        offsets = np.arange(int(self.indptr[-1])) - np.repeat(self.indptr[:-1], cart_lengths)
        # Items stay in cart order: sparse products then add terms in that order, like the reference.
        self.cart = history.indices[np.repeat(begins, cart_lengths) + offsets].astype(np.int32)
        self.held = history.indices[begins + cart_lengths].astype(np.int64)
        self.rows = row_ids(self.indptr)

    def chunks(self, row_nnz: np.ndarray, parts: int = 1) -> list[tuple[int, int, int]]:
        """Case ranges (lo, hi, multiply-adds) whose product with a matrix of these row sizes
        stays under WORK_LIMIT.

        With parts > 1 the ranges are also small enough to give that many workers about
        `CHUNKS_PER_WORKER` ranges each (never below MIN_CHUNK_WORK), so they finish together.
        """
        work = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.add.reduceat(row_nnz[self.cart], self.indptr[:-1]) if self.n else [], out=work[1:])
        limit = WORK_LIMIT
        if parts > 1:
            limit = min(limit, max(MIN_CHUNK_WORK, int(work[-1]) // (parts * CHUNKS_PER_WORKER) + 1))
        bounds, lo = [], 0
        while lo < self.n:
            hi = int(np.searchsorted(work, work[lo] + limit, side="right")) - 1
            hi = min(max(hi, lo + 1), self.n)
            bounds.append((lo, hi, int(work[hi] - work[lo])))
            lo = hi
        return bounds

    def recommend(self, sim: sp.csr_matrix, k: int, rank: np.ndarray, cart_decay: float = 1.0) -> np.ndarray:
        """Top-k columns for every case (-1 padded): score = Σ over cart items of sim rows, each
        row weighted by `cart_weights` (all 1 unless cart_decay < 1)."""
        return self.recommend_values(sim, [partial(np.copyto, src=sim.data)], k, rank, cart_decay)[0]

    def recommend_values(
        self,
        structure: sp.csr_matrix,
        writers: list[Writer],
        k: int,
        rank: np.ndarray,
        cart_decay: float = 1.0,
    ) -> list[np.ndarray]:
        """recommend() for several similarity matrices with `structure`'s rows and columns.

        Each writer fills an array with one matrix's values (in structure's entry order). Two
        matrices travel together as the real and imaginary parts of one complex product:
        (1 + 0j)·(x + iy) adds x and y exactly, so each sum is bit-identical to a separate product.
        """
        outs = [np.full((self.n, k), -1, dtype=np.int64) for _ in writers]
        if not writers or self.n == 0:
            return outs
        v, nnz = self.n_variants, structure.nnz
        # B = [S; -1e300·I]: the sims' rows, then one self row per variant. Each cart row of A
        # lists its items twice, the second time shifted by v, so every cart item's own column
        # gets -1e300 added after its real terms and sinks below FLOOR inside the product: no
        # separate pass has to find and drop cart items, and other columns' sums (the sims'
        # terms in cart order) stay bit-identical. Values are written straight into B's arrays.
        idx = np.int32 if nnz + 2 * v < 2**31 - 1 else np.int64  # 32-bit indices halve what products touch
        b_indptr = np.concatenate([structure.indptr, nnz + np.arange(1, v + 1)]).astype(idx)
        b_indices = np.concatenate([structure.indices, np.arange(v)]).astype(idx)

        workers = engine_threads()
        # Weighted carts multiply each item's row by its weight; the self entries keep weight 1.
        weights = None if cart_decay == 1.0 else cart_weights(np.diff(self.indptr), cart_decay)
        row_nnz = np.diff(structure.indptr)
        # B's rows are one longer than S's (the self entry): the multiply-adds bound each product's size
        chunks = [
            (lo, hi, *self._doubled(lo, hi, v, idx, weights), work)
            for lo, hi, work in self.chunks(row_nnz + 1, workers)
        ]
        per_thread = threading.local()

        def score(first: int, data: np.ndarray, chunk: tuple) -> None:
            lo, hi, a_indptr, a_indices, a_data, work = chunk
            scratch = per_thread.__dict__.setdefault("scratch", {})  # reused by this thread's next chunk
            indptr, indices, values = _matmat(
                hi - lo, v, a_indptr, a_indices, b_indptr, b_indices, data, work, scratch, a_data
            )
            parts = [values] if values.dtype.kind == "f" else [values.real, values.imag]
            for j, part in enumerate(parts):
                if not part.flags.c_contiguous:  # reductions run faster on a contiguous copy
                    contiguous = scratch_array(scratch, "part", len(part), part.dtype)
                    np.copyto(contiguous, part)
                    part = contiguous
                outs[first + j][lo:hi] = topk_rows(indptr, indices, part, k, rank)

        # One array holds B's values for one pack at a time (two scorers as complex, or the last
        # one alone in its float64 view): fresh memory is what a short-lived process pays most for.
        pairs = len(writers) > 1
        b_data = np.empty(nnz + v, dtype=np.complex128 if pairs else np.float64)
        # The sparse products and numpy's element-wise work release the GIL: the two writers of a
        # pack, and then chunks of cases, run side by side (each chunk writes its own output rows).
        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            run = pool.map if pool is not None else map
            for first in range(0, len(writers), 2):
                if first + 1 < len(writers):
                    data = b_data
                    halves = [data.real[:nnz], data.imag[:nnz]]
                    together = pool is not None and nnz >= PARALLEL_MIN_ENTRIES
                    list((run if together else map)(_write, writers[first : first + 2], halves))
                    data[nnz:] = SELF_SCORE * (1 + 1j)
                else:
                    data = b_data.view(np.float64)[: nnz + v]
                    writers[first](data[:nnz])
                    data[nnz:] = SELF_SCORE
                list(run(partial(score, first, data), chunks))
        return outs

    def _doubled(
        self, lo: int, hi: int, shift: int, dtype, weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Cart rows lo..hi as CSR with each row's items listed twice: as is, then + shift; with
        `weights` (per cart entry), the values: the weights, then 1 for the shifted copies."""
        a, b = self.indptr[lo], self.indptr[hi]
        starts = self.indptr[lo : hi + 1] - a
        indptr = (2 * starts).astype(dtype)
        items = self.cart[a:b].astype(dtype)
        first = np.arange(b - a) + starts[self.rows[a:b] - lo]  # entry t of row r: t + starts[r]
        lengths = np.diff(starts)
        indices = np.empty(2 * (b - a), dtype=dtype)
        indices[first] = items
        indices[first + np.repeat(lengths, lengths)] = items + shift
        if weights is None:
            return indptr, indices, None
        data = np.ones(2 * (b - a))
        data[first] = weights[a:b]
        return indptr, indices, data

    def popularity(self, stats: Stats, k: int) -> np.ndarray:
        """Top-k most-bought training variants not in each cart (-1 padded)."""
        ranked = np.argsort(stats.rank)
        known = int((stats.counts > 0).sum())
        out = np.full((self.n, k), -1, dtype=np.int64)
        if known == 0 or self.n == 0:
            return out
        longest = int(np.diff(self.indptr).max())
        head = ranked[: min(known, k + longest)]
        place = np.full(self.n_variants, -1, dtype=np.int64)
        place[head] = np.arange(len(head))
        step = max(1, 4_000_000 // len(head))
        for lo in range(0, self.n, step):
            hi = min(self.n, lo + step)
            a, b = self.indptr[lo], self.indptr[hi]
            usable = np.ones((hi - lo, len(head)), dtype=bool)
            where = place[self.cart[a:b]]
            hit = where >= 0
            usable[self.rows[a:b][hit] - lo, where[hit]] = False
            position = np.cumsum(usable, axis=1) - 1
            r, c = np.nonzero(usable & (position < k))
            out[lo + r, position[r, c]] = head[c]
        return out

    def hits(self, recommended: np.ndarray) -> np.ndarray:
        """Per case: is the held-out item among the recommendations."""
        return (recommended == self.held[:, None]).any(axis=1)

    def figures(self, recommended: np.ndarray, k: int) -> dict[str, float]:
        """HitRate@K, Precision@K, Recall@K and Coverage@K of the recommendations."""
        hits = int((recommended == self.held[:, None]).any(axis=1).sum())
        covered = int((recommended[:, 0] >= 0).sum()) if recommended.shape[1] else 0
        m = self.n or 1
        return {"hitRate": hits / m, "precision": hits / (k * m), "recall": hits / m, "coverage": covered / m}


@dataclass
class EvaluationReport:
    """Every candidate's figures on the time split, and the chosen one."""

    k: int
    train_orders: int
    evaluated_orders: int
    results: dict[str, dict[str, float]]
    best: str
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report in the documented JSON shape (issue 3), plus `details` when there is any."""
        out: dict[str, Any] = {
            "k": self.k,
            "trainOrders": self.train_orders,
            "evaluatedOrders": self.evaluated_orders,
            "results": {name: dict(fig) for name, fig in self.results.items()},
            "best": self.best,
        }
        details = self.details()
        if details:
            out["details"] = details
        return out

    def details(self) -> dict[str, Any]:
        """Tuning extras: each candidate's chosen settings, inner-split figures, skipped candidates."""
        details: dict[str, Any] = {}
        if self.params:
            details["params"] = {name: dict(p) for name, p in self.params.items()}
        if self.selection:
            details["selection"] = self.selection
        if self.skipped:
            details["skipped"] = dict(self.skipped)
        return details


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

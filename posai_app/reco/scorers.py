"""Scorers: sim(a → b) for cart item a and candidate b, each a sparse variant × variant matrix.

A cart's score for b is the sum over cart items a of sim(a → b). Every scorer keeps the
co-occurrence structure (only pairs bought together at least once are candidates).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from posai_app.reco.stats import Stats

Builder = Callable[..., sp.csr_matrix]
BLOCK = 1 << 18  # co entries per block of the basic formulas (temporaries of ~2 MB)


@dataclass(frozen=True)
class ScorerSpec:
    """A named scorer: how to build its matrix, its tuning grid, and whether selection may pick it."""

    name: str
    build: Builder
    grid: tuple[dict[str, Any], ...] = ({},)  # one representative point; train() scales its grids to the data
    selectable: bool = True
    exact: bool = True  # evaluated on full neighbourhoods (the issue-3 definition), not the served top-N
    description: str = ""  # the formula, for engineers and the CLI report
    label: str = ""  # what it does in plain words, for the merchant's admin page
    needs_times: bool = False
    dense: bool = False
    decays: str | None = None  # for a time-decayed candidate: the undecayed one whose settings it extends
    defaults: dict[str, Any] = field(default_factory=dict)


def _on_co(stats: Stats, data: np.ndarray) -> sp.csr_matrix:
    co = stats.co
    return sp.csr_matrix((data, co.indices, co.indptr), shape=co.shape, copy=False)


def _pair_blocks(stats: Stats) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """co, cA (row: cart item) and cB (column: candidate) of co's entries, block by block.

    Blocks follow rows (about BLOCK entries each), so cA is a repeat of the row's count; counts
    come as float64 (exact: far below 2**53). Working per block keeps the temporaries small and
    warm instead of three full-size arrays of fresh memory.
    """
    co, counts = stats.co, stats.counts.astype(np.float64)
    indptr, n_rows = co.indptr, co.shape[0]
    row = 0
    while row < n_rows:
        end = int(np.searchsorted(indptr, int(indptr[row]) + BLOCK, side="right")) - 1
        end = min(max(end, row + 1), n_rows)
        lo, hi = int(indptr[row]), int(indptr[end])
        ca = np.repeat(counts[row:end], np.diff(indptr[row : end + 1]))
        yield slice(lo, hi), co.data[lo:hi], ca, counts[co.indices[lo:hi]]
        row = end


# The four original formulas are written exactly as the reference computes them (term by term),
# so that sums, and therefore rankings and figures, are bit-identical. Each writes its values, in
# co's entry order, into `out` (any float64 array view, e.g. one half of a complex array), so
# evaluation can place them where its products read them without an intermediate matrix.
def cooccurrence_values(stats: Stats, out: np.ndarray) -> None:
    """sim = co."""
    np.copyto(out, stats.co.data)


def cosine_values(stats: Stats, out: np.ndarray) -> None:
    """sim = co / sqrt(cA · cB)."""
    for part, co, ca, cb in _pair_blocks(stats):
        o = out[part]
        np.multiply(ca, cb, out=o)  # the exact integer product, rounded once, as int64 → float64 would
        np.sqrt(o, out=o)
        np.divide(co, o, out=o)


def confidence_values(stats: Stats, out: np.ndarray) -> None:
    """sim = co / cA (directional)."""
    for part, co, ca, _ in _pair_blocks(stats):
        np.divide(co, ca, out=out[part])


def lift_values(stats: Stats, out: np.ndarray) -> None:
    """sim = co · N / (cA · cB)."""
    for part, co, ca, cb in _pair_blocks(stats):
        o = out[part]
        np.multiply(co, stats.n, out=o)
        np.multiply(ca, cb, out=ca)
        np.divide(o, ca, out=o)


def jaccard_values(stats: Stats, out: np.ndarray) -> None:
    """sim = co / (cA + cB − co)."""
    for part, co, ca, cb in _pair_blocks(stats):
        o = out[part]
        np.add(ca, cb, out=o)
        np.subtract(o, co, out=o)
        np.divide(co, o, out=o)


BASIC_VALUES: dict[str, Callable[[Stats, np.ndarray], None]] = {
    "cooccurrence": cooccurrence_values,
    "cosine": cosine_values,
    "confidence": confidence_values,
    "lift": lift_values,
    "jaccard": jaccard_values,
}


def basic_writers(names: Sequence[str], stats: Stats) -> list[Callable[[np.ndarray], None]]:
    """For each of these basic scorers, a function writing its values (co's order) into an array."""
    return [partial(BASIC_VALUES[name], stats) for name in names]


def _built(stats: Stats, values: Callable[[Stats, np.ndarray], None]) -> sp.csr_matrix:
    out = np.empty(stats.co.nnz)
    values(stats, out)
    return _on_co(stats, out)


def cooccurrence(stats: Stats) -> sp.csr_matrix:
    return _built(stats, cooccurrence_values)


def cosine(stats: Stats) -> sp.csr_matrix:
    return _built(stats, cosine_values)


def confidence(stats: Stats) -> sp.csr_matrix:
    return _built(stats, confidence_values)


def lift(stats: Stats) -> sp.csr_matrix:
    return _built(stats, lift_values)


def jaccard(stats: Stats) -> sp.csr_matrix:
    return _built(stats, jaccard_values)


def asymmetric_cosine(stats: Stats, alpha: float = 0.5, shrink: float = 0.0, half_life: float = 0.0):
    """sim = co / (cB^α · cA^(1−α) + h); with a half-life (days), co and counts are time-decayed."""
    if half_life:
        counts, co_m = stats.weighted(half_life)
        co = co_m.data
    else:
        counts, co = stats.counts, stats.co.data
    counts = counts.astype(np.float64)
    # Powers of the per-variant counts, then spread over the pairs: the same values as powers of
    # the spread counts, for a few thousand power evaluations instead of millions.
    ca, cb = stats.on_rows(np.power(counts, 1.0 - alpha)), np.power(counts, alpha)[stats.co.indices]
    return _on_co(stats, co / (cb * ca + shrink))


def bm25(stats: Stats, k1: float = 100.0, b: float = 0.8) -> sp.csr_matrix:
    """BM25-weighted item kNN (the `implicit` weighting): damps big baskets and very popular items."""
    x = stats.history.incidence(stats.start, stats.stop)
    n_items = max(int((stats.counts > 0).sum()), 2)
    basket = np.diff(x.indptr).astype(np.float64)
    # idf per order (big baskets say less about each pair), length norm per item (popularity).
    idf = np.maximum(np.log(n_items) - np.log1p(basket), 1e-3)
    item_len = stats.counts.astype(np.float64)
    norm = (1.0 - b) + b * item_len / max(item_len[item_len > 0].mean(), 1e-12)
    weights = (k1 + 1.0) / (k1 * norm[x.indices] + 1.0) * np.repeat(idf, np.diff(x.indptr))
    xw = sp.csr_matrix((weights, x.indices, x.indptr), shape=x.shape)
    return _on_co(stats, stats.gram_data(xw, xw.T.tocsr()))


def rp3beta(stats: Stats, beta: float = 0.5, half_life: float = 0.0) -> sp.csr_matrix:
    """RP3β: P(a → order → b) = Σ_o 1/(cA·|o|), divided by cB^β (popularity penalty)."""
    counts, walk = _walk(stats, half_life)
    ca = stats.on_rows(np.maximum(counts, 1e-12))
    cb = np.power(np.maximum(counts, 1e-12), beta)[stats.co.indices]
    return _on_co(stats, walk / ca / cb)


def _walk(stats: Stats, half_life: float) -> tuple[np.ndarray, np.ndarray]:
    """RP3β's (decayed) counts and walk Σ_o w_o/|o| on co's pairs; kept per slice for the β grid."""
    key = ("walk", half_life)
    if key not in stats._cache:
        for old in [k for k in stats._cache if isinstance(k, tuple) and k[0] == "walk"]:
            del stats._cache[old]  # one walk at a time: the grid tunes β at a fixed half-life
        h = stats.history
        x = h.incidence(stats.start, stats.stop)
        order_w = 1.0 / np.maximum(np.diff(x.indptr).astype(np.float64), 1.0)
        if half_life:
            decay = stats.decay(half_life)
            order_w = order_w * decay
            counts = np.asarray(h.incidence(stats.start, stats.stop, decay).sum(axis=0)).ravel()
        else:
            counts = stats.counts.astype(np.float64)
        stats._cache[key] = (counts, stats.gram_data(h.incidence(stats.start, stats.stop, order_w)))
    return stats._cache[key]


BASIC = ("cooccurrence", "cosine", "confidence", "lift", "jaccard")
ORIGINAL = ("cooccurrence", "cosine", "confidence", "lift")
POPULARITY = "popularity"

SCORERS: dict[str, ScorerSpec] = {
    spec.name: spec
    for spec in (
        ScorerSpec("cooccurrence", cooccurrence, description="co", label="Bought together most often."),
        ScorerSpec(
            "cosine",
            cosine,
            description="co / sqrt(cA·cB)",
            label="Bought together, balanced for how popular both items are.",
        ),
        ScorerSpec(
            "confidence",
            confidence,
            description="co / cA",
            label="Of the orders with the cart item, the share that also had this one.",
        ),
        ScorerSpec(
            "lift",
            lift,
            description="co·N / (cA·cB)",
            label="Bought together more often than chance would predict.",
        ),
        ScorerSpec(
            "jaccard", jaccard, description="co / (cA + cB − co)", label="Overlap of the two items' orders."
        ),
    )
}


def ease(stats: Stats, lam: float = 50.0, half_life: float = 0.0, max_variants: int = 4000) -> sp.csr_matrix:
    """EASE (Steck 2019) on the most-bought `max_variants` variants: B = I − P·diag(1/diag P).

    P = (XᵀX + λI)⁻¹ is dense and cubic in variants, hence the restriction. B's weights are kept
    on the co-occurrence pairs (others are not candidates), so the index keeps its shape. The
    factorisation runs on one LAPACK thread (`single_threaded_lapack`), so its floats depend
    neither on the machine's core count nor on its load; train() runs folds side by side instead.
    """
    data, _ = _dense_ease(stats, lam, half_life, max_variants)
    return _on_co(stats, data)


def _dense_ease(
    stats: Stats, lam: float, half_life: float, max_variants: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dense EASE's B on the head's co-occurrence pairs (zeros elsewhere), and diag P on the head."""
    from scipy.linalg import lapack

    head = _ease_head(stats, max_variants)
    m = len(head.keep)
    # XᵀWX on the head, scattered from the (decayed) co-occurrence the statistics already hold:
    # the same sums as a fresh product, without one. LAPACK reads only the upper triangle
    # (lower=False), so only the pairs a < b are written (co is exactly symmetric).
    counts, co = stats.weighted(half_life) if half_life else (stats.counts, stats.co)
    gram = np.zeros((m, m), dtype=np.float32, order="F")  # LAPACK's order: no copy on the way in
    flat = gram.reshape(-1, order="F")
    flat[head.upper_cells] = co.data[head.upper_entries]
    diagonal = flat[:: m + 1]
    diagonal[:] = counts[head.keep]
    diagonal += lam
    with single_threaded_lapack():
        factor, info = lapack.spotrf(gram, lower=False, overwrite_a=True, clean=False)
        if info == 0:
            inverse, info = lapack.spotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"EASE: (XᵀX + λI) not positive definite (info={info})")
    inverse_flat = inverse.reshape(-1, order="F")
    diag = inverse_flat[:: m + 1].astype(np.float64)
    data = np.zeros(stats.co.nnz)
    # B[a, b] = −P[a, b] / P[b, b], P read in its upper triangle (spotri fills only that one).
    values = -inverse_flat[head.cells] / diag[head.columns]
    if head.entries is None:
        data[:] = values
    else:
        data[head.entries] = values
    return data, diag


@dataclass(frozen=True)
class _Head:
    """Where the co-occurrence pairs of a dense EASE head sit in its m × m matrices."""

    keep: np.ndarray  # vocabulary indices of the head, ascending
    entries: np.ndarray | None  # co entries with both ends in the head (None: all of them)
    cells: np.ndarray  # their cell in the upper triangle (column-major): min(a, b) + max(a, b)·m
    columns: np.ndarray  # their column b (local)
    upper_entries: np.ndarray  # co entries with a < b (local), which fill the Gram's upper triangle
    upper_cells: np.ndarray  # and their cells a + b·m


def _ease_head(stats: Stats, max_variants: int) -> _Head:
    """The head's positions, kept per slice: a λ grid and the decayed twin share them."""
    key = ("ease_head", max_variants)
    head = stats._cache.get(key)
    if head is None:
        keep = ease_variants(stats, max_variants)
        m = len(keep)
        local = np.full(stats.co.shape[0], -1, dtype=np.int64)
        local[keep] = np.arange(m)
        a, b = stats.on_rows(local), local[stats.co.indices]
        entries = None
        if m < int((stats.counts > 0).sum()):
            entries = np.flatnonzero((a >= 0) & (b >= 0))
            a, b = a[entries], b[entries]
        upper = np.flatnonzero(a < b)
        cell_type = np.int32 if m * m < 2**31 else np.int64
        cells = (np.minimum(a, b) + np.maximum(a, b) * m).astype(cell_type)
        head = _Head(
            keep,
            entries,
            cells,
            b.astype(np.int32),
            upper if entries is None else entries[upper],
            (a[upper] + b[upper] * m).astype(cell_type),
        )
        stats._cache[key] = head
    return head


_LAPACK_LOCK = threading.Lock()
_lapack_users = 0
_lapack_saved: int | None = None


def lapack_threads_control() -> Callable[[int], int] | None:
    """A setter of the thread count of the OpenBLAS that scipy.linalg calls (returns the old one),
    or None where that library is not found (another BLAS, or not Linux)."""
    global _LAPACK_CONTROL
    if _LAPACK_CONTROL is False:
        import scipy.linalg.lapack  # noqa: F401  (loads the library)

        _LAPACK_CONTROL = _find_openblas()
    return _LAPACK_CONTROL


_LAPACK_CONTROL: Any = False


def _find_openblas() -> Callable[[int], int] | None:
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = dict.fromkeys(line.split()[-1] for line in maps if "openblas" in line.rsplit("/", 1)[-1])
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        # scipy's wheels carry their own 32-bit-integer OpenBLAS (prefixed names); numpy's is ILP64
        # ("…64_" names) and is not the one scipy.linalg calls. A system OpenBLAS has plain names.
        for prefix in ("scipy_openblas", "openblas"):
            setter = getattr(lib, f"{prefix}_set_num_threads", None)
            getter = getattr(lib, f"{prefix}_get_num_threads", None)
            if setter is not None and getter is not None and "scipy_openblas64" not in path:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int

                def control(n: int, setter=setter, getter=getter) -> int:
                    old = int(getter())
                    setter(n)
                    return old

                return control
    return None


@contextmanager
def single_threaded_lapack() -> Iterator[None]:
    """LAPACK on one thread while any caller is inside (reference-counted, so concurrent fits on
    several Python threads all stay single-threaded); the previous count is restored after the last.

    One thread makes a factorisation's floats independent of the machine's core count, and keeps
    its cost in CPU time what it is on an idle machine: OpenBLAS's threads wait for each other by
    spinning, so on a loaded machine a two-thread factorisation cost 3-10x its idle CPU time.
    """
    global _lapack_users, _lapack_saved
    control = lapack_threads_control()
    if control is None:
        yield
        return
    with _LAPACK_LOCK:
        if _lapack_users == 0:
            _lapack_saved = control(1)
        _lapack_users += 1
    try:
        yield
    finally:
        with _LAPACK_LOCK:
            _lapack_users -= 1
            if _lapack_users == 0 and _lapack_saved is not None:
                control(_lapack_saved)
                _lapack_saved = None


SPARSE_EASE_NEIGHBOURS = 256  # regressors of a tail variant at most: its most correlated co-neighbours
SPARSE_EASE_BATCH = 1 << 22  # cells of the stacked small systems solved in one call (32 MB)


def sparse_ease(
    stats: Stats,
    lam: float = 50.0,
    half_life: float = 0.0,
    max_variants: int = 4000,
    neighbours: int = SPARSE_EASE_NEIGHBOURS,
) -> sp.csr_matrix:
    """EASE on every known variant: dense on the head, small regressions for the long tail.

    EASE's column b is the ridge regression of b's orders on the other variants', B[:, b] =
    (A₋b₋b)⁻¹ A₋b b with A = XᵀWX + λI, and P[b, b] = 1 / (A_bb − A_b₋b B[₋b, b]) (a Schur
    complement). The head (the `max_variants` most-bought variants, the hubs) gets dense EASE
    among themselves, as `ease` computes it. Each other variant j is regressed on its
    co-occurring variants only (the others are uncorrelated with it; at most `neighbours`, the
    most correlated), one small dense system per variant, which also gives its P[j, j]. Pairs a
    column's regression leaves out (a tail variant a as a regressor of a hub b, or beyond the
    cap) come from the other direction through P's symmetry: P[a, b] = −B[a, b]·P[b, b] =
    −B[b, a]·P[a, a], so B[a, b] = B[b, a]·P[a, a] / P[b, b]. With a head holding the whole
    catalog this is dense EASE. The work is planned from the shape alone (Σ systems' size³ and
    the head's size³), and every step is deterministic.
    """
    data, head_diag = _dense_ease(stats, lam, half_life, max_variants)
    head = _ease_head(stats, max_variants)
    n = stats.co.shape[0]
    counts, co = stats.weighted(half_life) if half_life else (stats.counts, stats.co)
    counts = np.asarray(counts, dtype=np.float64)
    p_diag = np.zeros(n)
    p_diag[head.keep] = head_diag
    tail = sparse_tail(stats, max_variants, neighbours)
    if tail.columns.size:
        written = np.zeros(stats.co.nnz, dtype=bool)
        if head.entries is None:
            written[:] = True
        else:
            written[head.entries] = True
        transpose = _transpose_positions(stats)
        values = co.data
        # the head's Gram in float64, both triangles, for the pairs of head members
        m = len(head.keep)
        head_gram = np.zeros((m, m))
        cells = head.cells.astype(np.int64)
        picked = slice(None) if head.entries is None else head.entries
        head_gram.reshape(-1)[cells] = values[picked]
        head_gram.reshape(-1)[(cells % m) * m + cells // m] = values[picked]
        head_place = np.full(n, -1, dtype=np.int64)
        head_place[head.keep] = np.arange(m)
        for part in _tail_batches(tail):
            beta, schur = _solve_tail(
                tail, part, counts, values, lam, head_gram, head_place, co.indptr, co.indices
            )
            rows = np.arange(tail.indptr[part[0]], tail.indptr[part[-1] + 1])
            # column j's regression gives B[r, j] for its regressors r: entry (r, j) of co
            target = transpose[tail.source[rows]]
            data[target] = beta
            written[target] = True
            p_diag[tail.columns[part]] = 1.0 / schur
        # the other direction for what no column wrote: B[a, b] = B[b, a] · P[a, a] / P[b, b]
        missing = np.flatnonzero(~written)
        back = transpose[missing]
        usable = written[back]
        missing, back = missing[usable], back[usable]
        a = np.searchsorted(stats.co.indptr, missing, side="right") - 1
        b = stats.co.indices[missing]
        data[missing] = data[back] * p_diag[a] / p_diag[b]
    return _on_co(stats, data)


@dataclass(frozen=True)
class _Tail:
    """The tail variants' regressions: per column j (a tail variant), its regressors R(j)."""

    columns: np.ndarray  # the tail variants, by system size then vocabulary index
    indptr: np.ndarray  # regressors of columns[i]: rows indptr[i]:indptr[i+1] of the arrays below
    regressors: np.ndarray  # variant r of each (j, r), ascending within a column
    source: np.ndarray  # co's entry (j, r)
    sizes: np.ndarray  # |R(j)| per column
    position: np.ndarray  # per variant: its column's index, or -1
    expansion: np.ndarray  # per column: co entries of its non-head regressors (A_RR's gathering work)

    def work(self) -> tuple[int, int]:
        """(multiply-adds of the padded systems' solves, co entries gathered): the tail's cost."""
        padded = _padded(self.sizes).astype(np.float64)
        return int((padded**3).sum() * 2 / 3), int(self.expansion.sum())


def sparse_tail(stats: Stats, max_variants: int, neighbours: int = SPARSE_EASE_NEIGHBOURS) -> _Tail:
    """Regressors per tail variant (kept per slice: a λ grid and the decayed twin share them).

    R(j) = j's co-occurring variants, or the `neighbours` most correlated of them
    (co / √(cA·cB) on the undecayed counts; ties by the tie order), in vocabulary order."""
    key = ("sparse_tail", max_variants, neighbours)
    if key in stats._cache:
        return stats._cache[key]
    co, n = stats.co, stats.co.shape[0]
    in_head = np.zeros(n, dtype=bool)
    in_head[ease_variants(stats, max_variants)] = True
    is_tail = (stats.counts > 0) & ~in_head
    lengths = np.diff(co.indptr)
    rows = np.repeat(np.arange(n), lengths)
    entries = np.flatnonzero(np.repeat(is_tail, lengths))
    r_rows, r_cols = rows[entries], co.indices[entries].astype(np.int64)
    counts = stats.counts.astype(np.float64)
    if np.any(lengths[is_tail] > neighbours):
        strength = co.data[entries] / np.sqrt(counts[r_rows] * counts[r_cols])
        order = np.lexsort((stats.rank[r_cols], -strength, r_rows))
        first = np.searchsorted(r_rows[order], r_rows[order], side="left")
        keep = order[(np.arange(len(order)) - first) < neighbours]
        entries, r_rows, r_cols = entries[keep], r_rows[keep], r_cols[keep]
    sizes_by_row = np.bincount(r_rows, minlength=n)
    tail_rows = np.flatnonzero(is_tail & (sizes_by_row > 0))
    columns = tail_rows[np.lexsort((tail_rows, sizes_by_row[tail_rows]))]
    place = np.full(n, -1, dtype=np.int64)
    place[columns] = np.arange(len(columns))
    order = np.lexsort((r_cols, place[r_rows]))
    sizes = sizes_by_row[columns]
    indptr = np.zeros(len(columns) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    members = r_cols[order]
    member_rows = np.where(is_tail[members], lengths[members], 0)
    expansion = np.add.reduceat(member_rows, indptr[:-1]) if len(columns) else np.zeros(0, np.int64)
    tail = _Tail(columns, indptr, members, entries[order], sizes, place, expansion)
    stats._cache[key] = tail
    return tail


def _transpose_positions(stats: Stats) -> np.ndarray:
    """For each co entry (a, b), the position of (b, a) (co's pattern is symmetric).

    Positions as the values of a matrix on co's pattern: its transpose (a counting sort) lists
    row b's entries by ascending column, as does co's row b once sorted; pair them up."""
    key = "transpose_positions"
    if key not in stats._cache:
        co = stats.co
        idx = np.int32 if co.nnz < 2**31 - 1 else np.int64
        where = sp.csr_matrix(
            (np.arange(co.nnz, dtype=idx), co.indices.copy(), co.indptr.copy()), shape=co.shape
        )
        flipped = where.T.tocsr()
        where.sort_indices()  # on its own copy of co's pattern: co keeps its order
        out = np.empty(co.nnz, dtype=np.int64)
        out[where.data] = flipped.data
        stats._cache[key] = out
    return stats._cache[key]


def _tail_batches(tail: _Tail) -> Iterator[np.ndarray]:
    """Consecutive columns of one padded size whose stacked systems stay within SPARSE_EASE_BATCH
    cells, and whose gathering within SPARSE_EASE_BATCH co entries."""
    padded = _padded(tail.sizes)
    gathered = np.concatenate([[0], np.cumsum(tail.expansion)])
    start = 0
    while start < len(padded):
        size = int(padded[start])
        end = int(np.searchsorted(padded, size, side="right"))
        step = max(1, SPARSE_EASE_BATCH // (size * size))
        lo = start
        while lo < end:
            by_gather = int(np.searchsorted(gathered, gathered[lo] + SPARSE_EASE_BATCH, side="right")) - 1
            hi = min(end, lo + step, max(lo + 1, by_gather))
            yield np.arange(lo, hi)
            lo = hi
        start = end


def _padded(sizes: np.ndarray) -> np.ndarray:
    """System sizes rounded up to a multiple of 8 (padding is an identity block)."""
    return -(-sizes // 8) * 8


def _solve_tail(
    tail: _Tail,
    part: np.ndarray,
    counts: np.ndarray,
    values: np.ndarray,
    lam: float,
    head_gram: np.ndarray,
    head_place: np.ndarray,
    co_indptr: np.ndarray,
    co_indices: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """β = A_RR⁻¹ A_Rj and the Schur complement A_jj − A_jR β for the columns of `part`.

    A_RR's off-diagonal entries: pairs of two head members from the head's dense Gram; a pair
    with a tail member t from t's row of co, exact: A_RR is a principal block of A, so it stays positive
    definite."""
    n = len(co_indptr) - 1
    size = int(_padded(tail.sizes[part[:1]])[0])
    nb = len(part)
    lo, hi = int(tail.indptr[part[0]]), int(tail.indptr[part[-1] + 1])
    members = tail.regressors[lo:hi]
    sizes = tail.sizes[part]
    local = np.repeat(np.arange(nb), sizes)  # system of each (j, r)
    slot = np.arange(hi - lo) - np.repeat(tail.indptr[part] - lo, sizes)
    systems = np.zeros((nb, size, size))
    flat = systems.reshape(-1)
    cell = local * (size * size)
    flat[cell + slot * (size + 1)] = counts[members] + lam
    pad = np.arange(size)[None, :] >= sizes[:, None]
    systems.reshape(nb, -1)[:, :: size + 1][pad] = 1.0
    in_head = head_place[members] >= 0
    # pairs of head members, system by system
    hub = np.flatnonzero(in_head)
    if len(hub):
        groups = local[hub]
        bounds = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1], True])
        per_group = np.diff(bounds)
        squares = per_group * per_group
        group = np.repeat(np.arange(len(per_group)), squares)
        offset = np.arange(int(squares.sum())) - np.repeat(np.cumsum(squares) - squares, squares)
        first = hub[bounds[:-1][group] + offset // per_group[group]]
        second = hub[bounds[:-1][group] + offset % per_group[group]]
        other = first != second
        first, second = first[other], second[other]
        flat[cell[first] + slot[first] * size + slot[second]] = head_gram[
            head_place[members[first]], head_place[members[second]]
        ]
    # pairs with a tail member t: t's co-occurring variants (a short row) in the same system
    tail_member = np.flatnonzero(~in_head)
    if len(tail_member):
        starts = co_indptr[members[tail_member]]
        lengths = co_indptr[members[tail_member] + 1] - starts
        expand = np.repeat(tail_member, lengths)
        pos = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))
        keys = local * n + members  # ascending: systems in turn, regressors ascending
        query = local[expand] * n + co_indices[pos]
        where = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        found = keys[where] == query
        a, b, v = expand[found], where[found], values[pos[found]]
        flat[cell[a] + slot[a] * size + slot[b]] = v
        flat[cell[a] + slot[b] * size + slot[a]] = v
    rhs = np.zeros((nb, size))
    rhs.reshape(-1)[local * size + slot] = values[tail.source[lo:hi]]
    beta = np.linalg.solve(systems, rhs[:, :, None])[:, :, 0]
    schur = counts[tail.columns[part]] + lam - np.einsum("ij,ij->i", rhs, beta)
    return beta.reshape(-1)[local * size + slot], schur


def ease_variants(stats: Stats, max_variants: int) -> np.ndarray:
    """Vocabulary indices of the (at most) max_variants most-bought variants, in tie order."""
    known = int((stats.counts > 0).sum())
    return np.sort(np.argsort(stats.rank)[: min(known, max_variants)])


SCORERS.update(
    {
        spec.name: spec
        for spec in (
            ScorerSpec(
                "asymmetric",
                asymmetric_cosine,
                grid=tuple({"alpha": a, "shrink": 10.0} for a in (0.25, 0.5)),
                exact=False,
                description="co / (cB^α · cA^(1−α) + h)",
                label="Bought together, tuned for how strongly the cart item points to this one.",
            ),
            ScorerSpec(
                "bm25",
                bm25,
                grid=({"k1": 1.2, "b": 0.75},),
                exact=False,
                description="BM25-weighted item kNN",
                label="Bought together, down-weighting very large orders and very common items.",
            ),
            ScorerSpec(
                "rp3beta",
                rp3beta,
                grid=tuple({"beta": b} for b in (0.3, 0.5)),
                exact=False,
                description="RP3β random walk with popularity penalty",
                label="A random walk from the cart item through shared orders, with bestsellers toned down.",
            ),
            ScorerSpec(
                "ease",
                ease,
                grid=tuple({"lam": lam} for lam in (30.0, 100.0)),
                exact=False,
                dense=True,
                description="EASE, restricted to the most-bought variants",
                label="A model fitted to whole baskets of your most-bought items at once.",
            ),
            ScorerSpec(
                "asymmetric_decay",
                asymmetric_cosine,
                grid=({"alpha": 0.5, "shrink": 10.0, "half_life": 90.0},),
                exact=False,
                needs_times=True,
                decays="asymmetric",
                description="asymmetric cosine on time-decayed counts",
                label="Like asymmetric, with recent orders counting more than old ones.",
            ),
            ScorerSpec(
                "rp3beta_decay",
                rp3beta,
                grid=({"beta": 0.3, "half_life": 90.0},),
                exact=False,
                needs_times=True,
                decays="rp3beta",
                description="RP3β on time-decayed orders",
                label="Like rp3beta, with recent orders counting more than old ones.",
            ),
            ScorerSpec(
                "ease_decay",
                ease,
                grid=tuple({"lam": lam, "half_life": 90.0} for lam in (30.0, 100.0)),
                exact=False,
                dense=True,
                needs_times=True,
                decays="ease",
                description="EASE on time-decayed orders",
                label="Like ease, with recent orders counting more than old ones.",
            ),
        )
    }
)


def _popularity(stats: Stats) -> sp.csr_matrix:
    raise TypeError("popularity is a baseline (most-bought variants), not a similarity matrix")


SCORERS[POPULARITY] = ScorerSpec(
    POPULARITY,
    _popularity,
    selectable=False,
    description="most-bought training variants not in the cart",
    label="Baseline: the shop's bestsellers, whatever is in the cart.",
)
SELECTION_ORDER = tuple(name for name, spec in SCORERS.items() if spec.selectable)

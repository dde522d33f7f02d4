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
    return _on_co(stats, data)


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


SPARSE_EASE_DENSITY = 50  # entries kept per variant (on average) in the sparsified Gram, L and L⁻¹
SPARSE_EASE_STEPS = 6  # minimal-residual sweeps towards L⁻¹ (a fixed count: deterministic work)


def sparse_ease(
    stats: Stats, lam: float = 50.0, half_life: float = 0.0, density: int = SPARSE_EASE_DENSITY
) -> sp.csr_matrix:
    """EASE on every known variant through a sparse approximate inverse (after SANSA, Spišák et al. 2023).

    A = XᵀWX + λI is scaled to a unit diagonal and sparsified to `density` entries per variant;
    each dropped entry's size is added to both its diagonals, which keeps the matrix positive
    definite (the dropped part is a sum of PSD 2×2 blocks). SuperLU's incomplete factorisation in
    symmetric mode (no pivoting, a minimum-degree ordering) gives A ≈ Pᵀ L D Lᵀ P; L⁻¹ is
    approximated by minimal-residual sweeps with the same sparsity budget, so
    A⁻¹ ≈ Pᵀ Kᵀ D⁻¹ K P and B[a, b] = −A⁻¹[a, b] / A⁻¹[b, b] on the co-occurrence pairs.
    Every step is single-threaded scipy: the same input gives the same floats.
    """
    from scipy.sparse.linalg import spilu

    keep = np.flatnonzero(stats.counts > 0)
    m = len(keep)
    data = np.zeros(stats.co.nnz)
    if m < 2:
        return _on_co(stats, data)
    x = stats.history.incidence(stats.start, stats.stop)[:, keep]
    xw = x if not half_life else sp.diags(stats.decay(half_life)) @ x
    gram = (x.T @ xw).tocsc()
    scale = 1.0 / np.sqrt(gram.diagonal() + lam)
    a = gram.tocoo()
    a.data = a.data * (scale[a.row] * scale[a.col])  # s_a·s_b first: exactly symmetric
    off = a.row != a.col
    kept = _largest(np.abs(a.data), off, density * m)
    dropped = off & ~kept
    compensation = np.bincount(a.row[dropped], np.abs(a.data[dropped]), minlength=m)
    diagonal = (gram.diagonal() + lam) * scale**2 + compensation
    a = sp.csc_matrix(
        (
            np.concatenate([a.data[kept], diagonal]),
            (np.concatenate([a.row[kept], np.arange(m)]), np.concatenate([a.col[kept], np.arange(m)])),
        ),
        shape=(m, m),
    )
    lu = spilu(
        a,
        drop_tol=1e-4,
        fill_factor=10,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    if not np.array_equal(lu.perm_r, lu.perm_c):
        raise np.linalg.LinAlgError("sparse EASE: the factorisation pivoted (matrix not positive definite)")
    lower = _prune(lu.L.tocsc(), density * m)
    pivots = lu.U.diagonal()
    if not (pivots > 0).all():
        raise np.linalg.LinAlgError("sparse EASE: a non-positive pivot (matrix not positive definite)")
    inverse = _approximate_inverse(lower, density * m)
    w = (sp.diags(1.0 / np.sqrt(pivots)) @ inverse).tocsc()
    z = (w.T @ w).tocsr()  # ≈ A⁻¹ in the factorisation's order
    z_diag = np.asarray(w.multiply(w).sum(axis=0)).ravel()
    perm = lu.perm_c
    local = np.full(stats.co.shape[0], -1, dtype=np.int64)
    local[keep] = np.arange(m)
    ra, rb = stats.on_rows(local), local[stats.co.indices]
    both = np.flatnonzero((ra >= 0) & (rb >= 0))
    ra, rb = ra[both], rb[both]
    values = np.asarray(z[perm[ra], perm[rb]]).ravel()
    # A = S Â S with S = diag(scale): B[a, b] = −(s_a / s_b) · Â⁻¹[a, b] / Â⁻¹[b, b]
    data[both] = -(scale[ra] / scale[rb]) * values / z_diag[perm[rb]]
    return _on_co(stats, data)


def _largest(magnitude: np.ndarray, eligible: np.ndarray, budget: int) -> np.ndarray:
    """Mask of the (about) `budget` largest eligible magnitudes: one global, deterministic threshold."""
    values = magnitude[eligible]
    if len(values) <= budget:
        return eligible.copy()
    threshold = np.partition(values, len(values) - budget)[len(values) - budget]
    return eligible & (magnitude >= threshold)


def _prune(matrix: sp.csc_matrix, budget: int) -> sp.csc_matrix:
    """The matrix with its diagonal and its `budget` largest other entries (by magnitude)."""
    coo = matrix.tocoo()
    keep = _largest(np.abs(coo.data), coo.row != coo.col, budget) | (coo.row == coo.col)
    return sp.csc_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=matrix.shape)


def _approximate_inverse(lower: sp.csc_matrix, budget: int) -> sp.csc_matrix:
    """K ≈ L⁻¹ for unit lower-triangular L: minimal-residual steps K ← K + R·diag(α), R = I − LK,
    α per column minimising ‖R − α L R‖, each step pruned back to the budget."""
    m = lower.shape[0]
    identity = sp.identity(m, format="csc")
    k = identity.copy()
    for _ in range(SPARSE_EASE_STEPS):
        r = (identity - lower @ k).tocsc()
        lr = (lower @ r).tocsc()
        num = np.asarray(r.multiply(lr).sum(axis=0)).ravel()
        den = np.asarray(lr.multiply(lr).sum(axis=0)).ravel()
        alpha = np.divide(num, den, out=np.zeros(m), where=den > 0)
        k = _prune((k + r @ sp.diags(alpha)).tocsc(), budget)
    return k


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

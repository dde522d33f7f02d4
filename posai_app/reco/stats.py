"""Sparse statistics of an order history: incidence matrix, counts and co-occurrence (XᵀX, no diagonal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from posai_app.reco.orders import Order, baskets_by_time, split_point

DAY_US = 86_400 * 1_000_000


class History:
    """All baskets of a shop in created_at order, over one vocabulary of variant ids."""

    def __init__(self, baskets: Sequence[Sequence[str]], times: Sequence[int]) -> None:
        vocab: dict[str, int] = {}
        flat: list[int] = []
        add = vocab.setdefault
        for items in baskets:
            flat.extend([add(v, len(vocab)) for v in items])
        lengths = np.fromiter(map(len, baskets), dtype=np.int64, count=len(baskets))
        self.vocab = vocab
        self.ids: list[str] = list(vocab)
        self.n_orders = len(baskets)
        self.n_variants = len(self.ids)
        self.indptr = np.zeros(self.n_orders + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.indptr[1:])
        self.indices = np.array(flat, dtype=np.int32)
        self.times = np.asarray(times, dtype=np.int64)
        # Tie-breaks compare ids as strings; precompute each id's place in string order once.
        by_id = sorted(range(self.n_variants), key=self.ids.__getitem__)
        self.id_rank = np.empty(self.n_variants, dtype=np.int64)
        self.id_rank[by_id] = np.arange(self.n_variants)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> History:
        """Build from engine orders (sorted stably by created_at here)."""
        baskets, times = baskets_by_time(orders)
        return cls(baskets, times)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    def incidence(self, start: int, stop: int, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """Order × variant matrix for orders [start, stop) (1 per item, or the order's weight)."""
        lo, hi = self.indptr[start], self.indptr[stop]
        indptr = self.indptr[start : stop + 1] - lo
        if weights is None:
            data = np.ones(hi - lo, dtype=np.float64)
        else:
            data = np.repeat(np.asarray(weights, dtype=np.float64), np.diff(indptr))
        return sp.csr_matrix(
            (data, self.indices[lo:hi], indptr), shape=(stop - start, self.n_variants), copy=False
        )

    def split(self, stop: int | None = None) -> int:
        """Training size for the first `stop` orders: floor(0.8 · stop)."""
        return split_point(self.n_orders if stop is None else stop)


@dataclass
class Stats:
    """Co-occurrence statistics of orders [start, stop) of a history."""

    history: History
    start: int
    stop: int
    counts: np.ndarray  # orders containing each variant (int64)
    co: sp.csr_matrix  # float64 co-occurrence counts, zero diagonal, sorted indices
    rank: np.ndarray  # serving/tie order: 0 = most orders, then id ascending as strings
    rows: np.ndarray = field(repr=False)  # row index of each entry of co
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return self.stop - self.start

    @classmethod
    def build(cls, history: History, start: int, stop: int) -> Stats:
        """Counts, co-occurrence and tie order of orders [start, stop)."""
        x = history.incidence(start, stop)
        counts = np.bincount(x.indices, minlength=history.n_variants).astype(np.int64)
        co = _gram(x)
        rank = tie_rank(counts, history.id_rank)
        rows = np.repeat(np.arange(co.shape[0], dtype=np.int32), np.diff(co.indptr))
        return cls(history, start, stop, counts, co, rank, rows)

    def weighted(self, half_life_days: float) -> tuple[np.ndarray, sp.csr_matrix]:
        """Time-decayed counts and co-occurrence: each order weighs 0.5^(age / half-life)."""
        key = ("decay", half_life_days)
        if key not in self._cache:
            times = self.history.times[self.start : self.stop]
            age_days = (times[-1] - times) / DAY_US if len(times) else times.astype(np.float64)
            weights = np.power(0.5, age_days / half_life_days)
            x = self.history.incidence(self.start, self.stop)
            xw = self.history.incidence(self.start, self.stop, weights)
            counts = np.asarray(xw.sum(axis=0)).ravel()
            co = _gram(x, xw)
            # Keep exactly the unweighted structure so scorers can share it.
            self._cache[key] = (counts, _align(co, self.co))
        return self._cache[key]


def _gram(x: sp.csr_matrix, xw: sp.csr_matrix | None = None) -> sp.csr_matrix:
    """XᵀX (or XᵀW X) without its diagonal, sorted indices."""
    right = x if xw is None else xw
    g = (x.T.tocsr() @ right).tocsr()
    g.sort_indices()
    rows = np.repeat(np.arange(g.shape[0]), np.diff(g.indptr))
    g.data[rows == g.indices] = 0.0
    g.eliminate_zeros()
    return g


def _align(values: sp.csr_matrix, structure: sp.csr_matrix) -> sp.csr_matrix:
    """`values` restricted to (and stored in) exactly the entries of `structure`."""
    if values.nnz == structure.nnz and np.array_equal(values.indices, structure.indices):
        return sp.csr_matrix((values.data, structure.indices, structure.indptr), shape=structure.shape)
    aligned = structure.copy()
    aligned.data = np.asarray(values[structure.nonzero()]).ravel()
    return aligned


def tie_rank(counts: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """Each variant's place in the order (count desc, id asc): lower wins a tie."""
    order = np.lexsort((id_rank, -counts))
    rank = np.empty(len(counts), dtype=np.int64)
    rank[order] = np.arange(len(counts))
    return rank

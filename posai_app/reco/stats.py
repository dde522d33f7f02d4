"""Sparse statistics of an order history: incidence matrix, counts and co-occurrence (XᵀX, no diagonal)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from posai_app.reco.orders import (
    Order,
    baskets_by_time,
    load_history_parts,
    paused_gc,
    split_point,
    vocabulary,
)
from posai_app.reco.topk import row_ids

DAY_US = 86_400 * 1_000_000


class History:
    """All baskets of a shop in created_at order, over one vocabulary of variant ids."""

    def __init__(
        self, baskets: Sequence[Sequence[str]], times: Sequence[int], has_times: bool = True
    ) -> None:
        ids, flat = vocabulary(baskets)
        if not all(type(v) is str for v in ids):
            # Ids are strings inside the engine; other types (e.g. numeric ids) are converted here.
            baskets = [list(dict.fromkeys(str(v) for v in items)) for items in baskets]
            ids, flat = vocabulary(baskets)
        lengths = np.fromiter(map(len, baskets), dtype=np.int64, count=len(baskets))
        self._assign(ids, lengths, np.array(flat, dtype=np.int32), times, has_times)

    @classmethod
    def from_parts(
        cls,
        ids: list[str],
        lengths: np.ndarray,
        indices: np.ndarray,
        times: Sequence[int],
        has_times: bool = True,
    ) -> History:
        """Build from an already indexed history: basket lengths, item positions in `ids`, time keys."""
        history = cls.__new__(cls)
        history._assign(
            ids, np.asarray(lengths, dtype=np.int64), np.asarray(indices, dtype=np.int32), times, has_times
        )
        return history

    def _assign(
        self, ids: list[str], lengths: np.ndarray, indices: np.ndarray, times: Sequence[int], has_times: bool
    ) -> None:
        self.ids: list[str] = ids
        self.vocab = {v: i for i, v in enumerate(ids)}
        self.n_orders = len(lengths)
        self.n_variants = len(ids)
        self.indptr = np.zeros(self.n_orders + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.indptr[1:])
        self.indices = indices
        self.times = np.asarray(times, dtype=np.int64)
        # False when the input had no order times at all (every key is then 0: file order).
        self.has_times = bool(has_times)
        # Tie-breaks compare ids as strings; precompute each id's place in string order once.
        by_id = sorted(range(self.n_variants), key=self.ids.__getitem__)
        self.id_rank = np.empty(self.n_variants, dtype=np.int64)
        self.id_rank[by_id] = np.arange(self.n_variants)

    @classmethod
    def from_csv(cls, path: str) -> History:
        """Build straight from a CSV file in the common shape (no Order objects in between)."""
        return cls.from_parts(*load_history_parts(path))

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> History:
        """Build from engine orders (sorted stably by created_at here)."""
        with paused_gc():
            baskets, times, has_times = baskets_by_time(orders)
            return cls(baskets, times, has_times)

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
    co: sp.csr_matrix  # float64 co-occurrence counts, zero diagonal (entries in product order)
    rank: np.ndarray  # serving/tie order: 0 = most orders, then id ascending as strings
    _xt: sp.csr_matrix = field(repr=False, default=None)  # Xᵀ, the left operand of every Gram product
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return self.stop - self.start

    @classmethod
    def build(cls, history: History, start: int, stop: int) -> Stats:
        """Counts, co-occurrence and tie order of orders [start, stop)."""
        x = history.incidence(start, stop)
        counts = np.bincount(x.indices, minlength=history.n_variants).astype(np.int64)
        xt = x.T.tocsr()
        co = xt @ x
        # Drop the diagonal (each variant's own count) in place: zero it, then compact. Every
        # off-diagonal value is a count >= 1, so only the diagonal goes; the others keep their
        # product order, and no second copy of the largest arrays is ever made.
        co.data[_diagonal(co)] = 0
        co.eliminate_zeros()
        co.has_sorted_indices = False
        rank = tie_rank(counts, history.id_rank)
        return cls(history, start, stop, counts, co, rank, xt)

    def on_rows(self, values: np.ndarray) -> np.ndarray:
        """values[a] for the row a of every co entry, in co's entry order."""
        return np.repeat(values, np.diff(self.co.indptr))

    def gram_data(self, right: sp.csr_matrix, left_t: sp.csr_matrix | None = None) -> np.ndarray:
        """Values of (left_t or Xᵀ) @ right on co's entries, in co's order.

        `right` (and `left_t`) must have X's (Xᵀ's) sparsity with positive values: a CSR product's
        entry order depends only on the operands' structure, so it lines up with co's. The
        structure is checked up front, so the product's size is known (co's pairs and the
        diagonal) and scipy's counting pass is skipped; the same sums as `left_t @ right`.
        """
        from scipy.sparse import _sparsetools

        left = self._xt if left_t is None else left_t
        lo, hi = self.history.indptr[self.start], self.history.indptr[self.stop]
        same = (
            right.shape == (self.n, self.co.shape[0])
            and left.shape == self._xt.shape
            and np.array_equal(right.indptr, self.history.indptr[self.start : self.stop + 1] - lo)
            and np.array_equal(right.indices, self.history.indices[lo:hi])
            and (
                left is self._xt
                or (
                    np.array_equal(left.indptr, self._xt.indptr)
                    and np.array_equal(left.indices, self._xt.indices)
                )
            )
        )
        if not same:
            raise ValueError("weighted Gram product does not share the co-occurrence structure")
        nnz = self.co.nnz + int(np.count_nonzero(self.counts))  # off-diagonal pairs, then the diagonal
        idx = np.int32 if max(nnz, left.nnz) < 2**31 - 1 else np.int64
        indptr = np.empty(left.shape[0] + 1, dtype=idx)
        indices = np.empty(nnz, dtype=idx)
        data = np.empty(nnz, dtype=np.float64)
        _sparsetools.csr_matmat(
            left.shape[0],
            right.shape[1],
            left.indptr.astype(idx, copy=False),
            left.indices.astype(idx, copy=False),
            np.asarray(left.data, dtype=np.float64),
            right.indptr.astype(idx, copy=False),
            right.indices.astype(idx, copy=False),
            np.asarray(right.data, dtype=np.float64),
            indptr,
            indices,
            data,
        )
        keep = self._cache.get("off_diagonal")
        if keep is None:
            keep = np.flatnonzero(row_ids(indptr) != indices)
            if (
                int(indptr[-1]) != nnz
                or len(keep) != self.co.nnz
                or not np.array_equal(indices[keep], self.co.indices)
            ):
                raise ValueError("weighted Gram product does not share the co-occurrence structure")
            self._cache["off_diagonal"] = keep
        return data[keep]

    def weighted(self, half_life_days: float) -> tuple[np.ndarray, sp.csr_matrix]:
        """Time-decayed counts and co-occurrence: each order weighs 0.5^(age / half-life)."""
        key = ("decay", half_life_days)
        if key not in self._cache:
            weights = self.decay(half_life_days)
            xw = self.history.incidence(self.start, self.stop, weights)
            counts = np.asarray(xw.sum(axis=0)).ravel()
            co = sp.csr_matrix((self.gram_data(xw), self.co.indices, self.co.indptr), shape=self.co.shape)
            self._cache[key] = (counts, co)
        return self._cache[key]

    def decay(self, half_life_days: float) -> np.ndarray:
        """Per-order weights 0.5^(age / half-life), age from the slice's latest order (never 0)."""
        times = self.history.times[self.start : self.stop]
        if not len(times):
            return np.ones(0)
        weights = np.power(0.5, (times[-1] - times) / (DAY_US * half_life_days))
        return np.maximum(weights, 1e-300)


def _diagonal(gram: sp.csr_matrix) -> np.ndarray:
    """Mask of a square CSR matrix's diagonal entries."""
    return row_ids(gram.indptr) == gram.indices


def tie_rank(counts: np.ndarray, id_rank: np.ndarray) -> np.ndarray:
    """Each variant's place in the order (count desc, id asc): lower wins a tie."""
    order = np.lexsort((id_rank, -counts))
    rank = np.empty(len(counts), dtype=np.int64)
    rank[order] = np.arange(len(counts))
    return rank

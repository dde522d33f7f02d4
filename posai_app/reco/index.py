"""The neighbour index: each variant's top-N neighbours; ranks a cart's candidates in microseconds.

What a cart is finally served (filters, bestseller fallback) is posai_app.reco.serving.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from posai_app.reco.topk import topk_rows

MIN_CART_WEIGHT = 1e-12  # a cart item's weight never falls below this (no underflow to 0 in long carts)


def cart_weight(cart_decay: float, after: int) -> float:
    """The weight of a cart item's row when `after` distinct items were added after it."""
    return max(cart_decay**after, MIN_CART_WEIGHT)


Exclude = Callable[[str], bool] | Collection[str] | None


def _excluder(exclude: Exclude) -> Callable[[str], bool]:
    if exclude is None:
        return lambda _id: False
    if callable(exclude):
        return exclude
    return exclude.__contains__


class NeighborIndex:
    """Top-N neighbours per variant with score and co-count, plus per-variant order counts.

    Variants are stored in tie order (most orders first, then id ascending as strings), so a
    smaller internal position always wins a tie.
    """

    def __init__(
        self,
        ids: Sequence[str],
        counts: np.ndarray,
        indptr: np.ndarray,
        targets: np.ndarray,
        scores: np.ndarray,
        co_counts: np.ndarray,
        cart_decay: float = 1.0,
    ) -> None:
        self.ids = list(ids)
        # Weight of a cart item's row: cart_decay^(distinct items added after it), tuned in training.
        self.cart_decay = float(cart_decay)
        self.position = {v: i for i, v in enumerate(self.ids)}
        self._counts = np.asarray(counts, dtype=np.int64)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.int32)
        self.scores = np.asarray(scores, dtype=np.float64)
        self.co_counts = np.asarray(co_counts, dtype=np.int64)
        self._rows: dict[int, tuple[list[int], list[float]]] = {}

    @property
    def counts(self) -> dict[str, int]:
        """Orders containing each variant (the statistics the index was built on)."""
        return dict(zip(self.ids, self._counts.tolist(), strict=True))

    def __len__(self) -> int:
        return len(self.ids)

    def approx_bytes(self) -> int:
        """Memory this index holds: its arrays, plus ids and their positions (≈ 160 B per variant)."""
        arrays = (self._counts, self.indptr, self.targets, self.scores, self.co_counts)
        return sum(a.nbytes for a in arrays) + 160 * len(self.ids)

    @property
    def n_rows(self) -> int:
        return int(len(self.targets))

    def neighbors(self, variant_id: str) -> list[tuple[str, float]]:
        """One variant's stored neighbours, best first."""
        i = self.position.get(variant_id)
        if i is None:
            return []
        s, e = self.indptr[i], self.indptr[i + 1]
        ids = self.ids
        return [
            (ids[t], sc) for t, sc in zip(self.targets[s:e].tolist(), self.scores[s:e].tolist(), strict=True)
        ]

    def recommend(
        self, cart_ids: Sequence[str], limit: int, exclude: Exclude = None
    ) -> list[tuple[str, float]]:
        """Best `limit` variants for a cart: Σ of neighbour scores over cart items; cart never returned.

        `cart_ids` are in the order they were added (the last is the newest). Each distinct item's
        row is weighted by cart_decay^(distinct items added after it), as evaluation.cart_weights
        weighs validation carts; with cart_decay = 1 every row counts fully. Ties go to the variant
        in more orders, then the smaller id (as strings). Excluded variants are skipped and the
        list is filled from candidates further down.
        """
        if limit <= 0:
            return []
        position = self.position
        in_cart: set[int] = set()
        totals: dict[int, float] = {}
        get = totals.get
        distinct = list(dict.fromkeys(cart_ids))
        decay = self.cart_decay
        for n, vid in enumerate(distinct):
            i = position.get(vid)
            if i is None:
                continue
            in_cart.add(i)
            targets, scores = self._row(i)
            if decay == 1.0:
                for t, sc in zip(targets, scores, strict=True):
                    totals[t] = get(t, 0.0) + sc
            else:
                w = cart_weight(decay, len(distinct) - 1 - n)
                for t, sc in zip(targets, scores, strict=True):
                    totals[t] = get(t, 0.0) + w * sc
        for i in in_cart:
            totals.pop(i, None)
        if not totals:
            return []
        skip = _excluder(exclude)
        ids = self.ids
        # (-score, position) orders by score desc, then tie order; plain tuples sort in C, no key function.
        ranked = [(-sc, t) for t, sc in totals.items()]
        want = limit * 2 + 8
        # A partial selection suffices unless exclusions eat into it; then sort everything.
        pool = heapq.nsmallest(want, ranked) if len(ranked) > 4 * want else None
        out: list[tuple[str, float]] = []
        for candidates in (pool, None):
            if candidates is None:
                ranked.sort()
                candidates = ranked
            out = []
            for neg, t in candidates:
                vid = ids[t]
                if not skip(vid):
                    out.append((vid, -neg))
                    if len(out) == limit:
                        return out
            if pool is None or len(pool) == len(ranked):
                return out
            pool = None
        return out

    def contribution(self, cart_ids: Sequence[str], target: str) -> tuple[str, int] | None:
        """(cart item, co-count) of the cart item whose stored neighbour score for `target`,
        weighted as recommend() weighs it, is the highest (the first such in cart order), or None
        when no cart item lists it."""
        t = self.position.get(target)
        if t is None:
            return None
        best: tuple[float, str, int] | None = None
        distinct = list(dict.fromkeys(cart_ids))
        for n, vid in enumerate(distinct):
            i = self.position.get(vid)
            if i is None:
                continue
            s, e = int(self.indptr[i]), int(self.indptr[i + 1])
            hits = np.flatnonzero(self.targets[s:e] == t)
            if len(hits):
                j = s + int(hits[0])
                score = float(self.scores[j])
                if self.cart_decay != 1.0:
                    score *= cart_weight(self.cart_decay, len(distinct) - 1 - n)
                if best is None or score > best[0]:
                    best = (score, vid, int(self.co_counts[j]))
        return None if best is None else (best[1], best[2])

    def _row(self, i: int) -> tuple[list[int], list[float]]:
        """One variant's neighbours as Python lists (memoised: hot variants are asked for often)."""
        row = self._rows.get(i)
        if row is None:
            s, e = self.indptr[i], self.indptr[i + 1]
            row = self._rows[i] = (self.targets[s:e].tolist(), self.scores[s:e].tolist())
        return row

    def to_rows(self) -> Iterator[tuple[str, str, int, float]]:
        """(source_id, target_id, co_count, score) for every stored neighbour, best first per source."""
        ids = self.ids
        rows = np.repeat(np.arange(len(ids)), np.diff(self.indptr)).tolist()
        yield from zip(
            (ids[r] for r in rows),
            (ids[t] for t in self.targets.tolist()),
            self.co_counts.tolist(),
            self.scores.tolist(),
            strict=True,
        )

    @classmethod
    def from_rows(
        cls, rows: Iterable[tuple[str, str, int, float]], counts: Mapping[str, int]
    ) -> NeighborIndex:
        """Rebuild an index from to_rows() output and per-variant order counts."""
        sources, targets, cos, scores = [], [], [], []
        for a, b, co, score in rows:
            sources.append(str(a))
            targets.append(str(b))
            cos.append(int(co))
            scores.append(float(score))
        known = {str(v): int(c) for v, c in counts.items()}
        for v in (*sources, *targets):
            known.setdefault(v, 0)
        ids = sorted(known, key=lambda v: (-known[v], v))
        position = {v: i for i, v in enumerate(ids)}
        src = np.array([position[v] for v in sources], dtype=np.int64)
        tgt = np.array([position[v] for v in targets], dtype=np.int64)
        sc = np.array(scores, dtype=np.float64)
        order = np.lexsort((tgt, -sc, src))
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=len(ids)), out=indptr[1:])
        counts_arr = np.array([known[v] for v in ids], dtype=np.int64)
        return cls(ids, counts_arr, indptr, tgt[order], sc[order], np.array(cos, dtype=np.int64)[order])

    @classmethod
    def from_matrix(
        cls,
        ids: Sequence[str],
        counts: np.ndarray,
        rank: np.ndarray,
        sim: sp.csr_matrix,
        co: sp.csr_matrix,
        top_n: int,
        cart_decay: float = 1.0,
    ) -> NeighborIndex:
        """Keep each row's top_n positive entries of sim (which has co's structure) under the tie order."""
        pos = top_positions(sim, rank, top_n)
        rows = np.repeat(np.arange(sim.shape[0]), pos.shape[1]).reshape(pos.shape)
        keep = pos >= 0
        r, p = rows[keep], pos[keep]
        order_ = np.argsort(rank)  # internal position -> vocabulary index
        new_row = rank[r]
        tgt = rank[sim.indices[p]]
        arrange = np.lexsort((np.arange(len(r)), new_row))  # rows in tie order, neighbours stay best-first
        indptr = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(np.bincount(new_row, minlength=len(ids)), out=indptr[1:])
        co_vals = co.data[p] if co is not None else np.zeros(len(p))
        return cls(
            [ids[i] for i in order_],
            np.asarray(counts)[order_],
            indptr,
            tgt[arrange],
            sim.data[p][arrange],
            np.rint(co_vals[arrange]).astype(np.int64),
            cart_decay,
        )


def top_positions(sim: sp.csr_matrix, rank: np.ndarray, top_n: int) -> np.ndarray:
    """Positions (into sim.data) of each row's top_n positive entries, best first, -1 padded."""
    data = sim.data.astype(np.float64, copy=True)
    data[~(data > 0)] = -np.inf
    return topk_rows(sim.indptr, sim.indices, data, top_n, rank, positions=True)


def truncate(sim: sp.csr_matrix, rank: np.ndarray, top_n: int) -> sp.csr_matrix:
    """sim reduced to what the index serves: each row's top_n positive entries (same entry order)."""
    pos = top_positions(sim, rank, top_n)
    keep_pos = np.sort(pos[pos >= 0])
    rows = np.repeat(np.arange(sim.shape[0]), np.diff(sim.indptr))[keep_pos]
    indptr = np.zeros(sim.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=sim.shape[0]), out=indptr[1:])
    return sp.csr_matrix((sim.data[keep_pos], sim.indices[keep_pos], indptr), shape=sim.shape)

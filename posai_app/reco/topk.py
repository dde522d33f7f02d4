"""Row-wise top-K of sparse rows, vectorised: score descending, then a tie rank ascending."""

from __future__ import annotations

import numpy as np

PAD_LIMIT = 8_000_000  # cells of the padded block used to find large-k thresholds
FLOOR = -1e299  # entries at or below this (cart items, -inf) are never recommended


def row_ids(indptr: np.ndarray) -> np.ndarray:
    """The row of each stored entry."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def topk_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    k: int,
    tie_rank: np.ndarray,
    rows: np.ndarray | None = None,
    positions: bool = False,
) -> np.ndarray:
    """Column indices of each row's k best entries (-1 padded); entries <= FLOOR never count.

    Order: data descending, then tie_rank[column] ascending (exact, no float tricks). With
    positions=True the entries' positions in data are returned instead of their columns.
    """
    n = len(indptr) - 1
    out = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or k <= 0 or len(data) == 0:
        return out
    if rows is None:
        rows = row_ids(indptr)
    if k <= 4:
        threshold = _kth_largest(indptr, data, k, rows)
        candidates = np.flatnonzero(data >= threshold[rows])
    else:
        # float32 rounding is monotonic, so these candidates are a superset of the exact top k;
        # the exact float64 order below then picks them.
        with np.errstate(over="ignore"):  # below-FLOOR markers become -inf, as intended
            data32 = data.astype(np.float32)
        threshold = _kth_largest_padded(indptr, data32, k)
        candidates = np.flatnonzero((data32 >= threshold[rows]) & (data32 > -np.inf))
    if len(candidates) == 0:
        return out
    c_rows = rows[candidates]
    c_cols = indices[candidates]
    order = np.lexsort((tie_rank[c_cols], -data[candidates], c_rows))
    c_rows, c_cols = c_rows[order], (candidates if positions else c_cols)[order]
    first = np.searchsorted(c_rows, c_rows, side="left")
    position = np.arange(len(c_rows)) - first
    keep = position < k
    out[c_rows[keep], position[keep]] = c_cols[keep]
    return out


def _kth_largest(indptr: np.ndarray, data: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
    """Per row, the k-th largest value above FLOOR counting ties (the smallest one if fewer than k).

    Rows without any such value get +inf, so `data >= threshold[rows]` alone picks the candidates.
    """
    n = len(indptr) - 1
    nonempty = np.flatnonzero(np.diff(indptr) > 0)
    starts = indptr[:-1][nonempty]
    threshold = np.full(n, np.inf)
    need = np.full(n, k, dtype=np.int64)
    current = data
    for step in range(k):
        best = np.full(n, -np.inf)
        best[nonempty] = np.maximum.reduceat(current, starts)
        active = (need > 0) & (best > FLOOR)
        if not active.any():
            break
        threshold[active] = best[active]
        if step == k - 1:
            break
        equal = current == best[rows]
        ties = np.zeros(n, dtype=np.int64)
        ties[nonempty] = np.add.reduceat(equal, starts, dtype=np.int64)
        need -= ties
        if not ((need > 0) & active).any():
            break
        current = np.where(equal, -np.inf, current)
    return threshold


def _kth_largest_padded(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Same as _kth_largest, for larger k: partition a -inf padded block of long rows."""
    n = len(indptr) - 1
    lengths = np.diff(indptr)
    threshold = np.full(n, -np.inf, dtype=data.dtype)  # rows with <= k entries: all finite ones count
    long_rows = np.flatnonzero(lengths > k)
    long_rows = long_rows[np.argsort(lengths[long_rows], kind="stable")]
    i = 0
    while i < len(long_rows):
        width = int(lengths[long_rows[i]])
        j = i + 1
        while j < len(long_rows) and (j - i + 1) * int(lengths[long_rows[j]]) <= max(PAD_LIMIT, width):
            j += 1
        block_rows = long_rows[i:j]
        width = int(lengths[block_rows[-1]])
        block = np.full((len(block_rows), width), -np.inf, dtype=data.dtype)
        block_lengths = lengths[block_rows]
        local = np.repeat(np.arange(len(block_rows)), block_lengths)
        offset = np.arange(int(block_lengths.sum())) - np.repeat(
            np.cumsum(block_lengths) - block_lengths, block_lengths
        )
        source = np.repeat(indptr[block_rows], block_lengths) + offset
        block[local, offset] = data[source]
        part = np.partition(block, width - k, axis=1)[:, width - k]
        threshold[block_rows] = part
        i = j
    return threshold

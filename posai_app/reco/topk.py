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
        lengths = np.diff(indptr)
        threshold = _kth_level(indptr, data, k, lengths)
        candidates = np.flatnonzero(data >= np.repeat(threshold, lengths))
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


def _kth_level(indptr: np.ndarray, data: np.ndarray, k: int, lengths: np.ndarray) -> np.ndarray:
    """Per row, the k-th largest *distinct* value above FLOOR (the smallest one if fewer than k).

    Every entry of a row's top k (ties included) is >= it, so `data >= threshold` picks a small
    superset that the exact sort then orders. Rows without any such value get +inf. Values are
    spread back over entries with np.repeat (sequential) rather than gathered through row ids.
    """
    n = len(indptr) - 1
    nonempty = np.flatnonzero(lengths > 0)
    starts = indptr[:-1][nonempty]
    threshold = np.full(n, np.inf)
    current = data
    for step in range(k):
        best = np.full(n, -np.inf)
        best[nonempty] = np.maximum.reduceat(current, starts)
        found = best > FLOOR
        if not found.any():
            break
        threshold[found] = best[found]
        if step == k - 1:
            break
        current = np.where(current < np.repeat(best, lengths), current, -np.inf)
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

"""Row-wise top-K of sparse rows, vectorised: score descending, then a tie rank ascending."""

from __future__ import annotations

import numpy as np

PAD_LIMIT = 8_000_000  # cells of the padded block used to find large-k thresholds
FLOOR = -1e299  # entries at or below this (cart items, -inf) are never recommended
ABOVE_FLOOR = float(np.nextafter(FLOOR, np.inf))
BLOCK_K = 4  # up to this k, thresholds come from block maxima (one pass); beyond, from partitions


def row_ids(indptr: np.ndarray) -> np.ndarray:
    """The row of each stored entry."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def topk_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    k: int,
    tie_rank: np.ndarray,
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
    if k <= BLOCK_K:
        threshold = _block_threshold(indptr, data, k)
        candidates = np.flatnonzero(data >= np.repeat(threshold, np.diff(indptr)))
    else:
        # float32 rounding is monotonic, so these candidates are a superset of the exact top k;
        # the exact float64 order below then picks them.
        rows = row_ids(indptr)
        with np.errstate(over="ignore"):  # below-FLOOR markers become -inf, as intended
            data32 = data.astype(np.float32)
        threshold = _kth_largest_padded(indptr, data32, k)
        candidates = np.flatnonzero((data32 >= threshold[rows]) & (data32 > -np.inf))
    if len(candidates) == 0:
        return out
    c_rows = np.searchsorted(indptr, candidates, side="right") - 1
    c_cols = indices[candidates]
    order = np.lexsort((tie_rank[c_cols], -data[candidates], c_rows))
    c_rows, c_cols = c_rows[order], (candidates if positions else c_cols)[order]
    first = np.searchsorted(c_rows, c_rows, side="left")
    position = np.arange(len(c_rows)) - first
    keep = position < k
    out[c_rows[keep], position[keep]] = c_cols[keep]
    return out


def _block_threshold(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Per row, a value that each of its k best entries reaches, from one pass over the data.

    Cut a row into k blocks: their k maxima are k different entries, so the row's k-th best
    entry is at least the smallest of them. Rows shorter than k (or with a block holding only
    cart items) get ABOVE_FLOOR: every entry above FLOOR is a candidate there.
    """
    n = len(indptr) - 1
    threshold = np.full(n, ABOVE_FLOOR)
    # reduceat needs every cut inside data: leave out the empty rows at the end
    used = int(np.searchsorted(indptr[:-1], len(data), side="left"))
    starts = indptr[:used]
    lengths = indptr[1 : used + 1] - starts
    # Block j of a row starts at start + floor(j·length / k); the last block ends where the next
    # row starts. Short rows' cuts repeat (empty blocks): their values are not used.
    cuts = (starts[:, None] + (lengths[:, None] * np.arange(k)) // k).ravel()
    smallest = np.maximum.reduceat(data, cuts).reshape(used, k).min(axis=1)
    full = lengths >= k
    threshold[:used][full] = np.maximum(smallest[full], ABOVE_FLOOR)
    return threshold


def _kth_largest_padded(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Per row, its k-th largest entry (-inf for rows of <= k entries): partition a -inf padded
    block of long rows."""
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

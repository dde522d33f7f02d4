"""Row-wise top-K of sparse rows, vectorised: score descending, then a tie rank ascending."""

from __future__ import annotations

import numpy as np

PAD_LIMIT = 4_000_000  # cells of the padded block of block maxima (larger k)
BLOCKS_PER_K = 4  # larger k: a row is cut into up to this many blocks per entry wanted
FLOOR = -1e299  # entries at or below this (cart items, -inf) are never recommended
ABOVE_FLOOR = float(np.nextafter(FLOOR, np.inf))
BLOCK_K = 4  # up to this k, the threshold is the smallest of k block maxima; beyond, the k-th largest of more


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
    else:
        threshold = _many_block_threshold(indptr, data, k)
    candidates = np.flatnonzero(data >= np.repeat(threshold, np.diff(indptr)))
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


def _many_block_threshold(indptr: np.ndarray, data: np.ndarray, k: int) -> np.ndarray:
    """Per row, a value that each of its k best entries reaches, for larger k, from one pass.

    Cut a row longer than k into min(length, BLOCKS_PER_K · k) blocks: their maxima are that many
    different entries, so the k-th largest of them is at most the row's k-th best entry. Only a
    little more than k entries per row reach it, and those are then sorted exactly (float64, no
    rounding). Rows of at most k entries get ABOVE_FLOOR: every entry above FLOOR is a candidate.
    """
    n = len(indptr) - 1
    threshold = np.full(n, ABOVE_FLOOR)
    used = int(np.searchsorted(indptr[:-1], len(data), side="left"))  # rows starting inside data
    starts = indptr[:used]
    lengths = indptr[1 : used + 1] - starts
    long_rows = lengths > k
    if not long_rows.any():
        return threshold
    # Every used row gets at least one cut (its start), so each row's last block ends where the
    # next row starts; short rows' single block is not used.
    blocks = np.where(long_rows, np.minimum(lengths, BLOCKS_PER_K * k), 1)
    first = np.cumsum(blocks) - blocks
    j = np.arange(int(blocks.sum())) - np.repeat(first, blocks)
    row_of_cut = np.repeat(np.arange(used), blocks)
    cuts = starts[row_of_cut] + (lengths[row_of_cut] * j) // blocks[row_of_cut]
    maxima = np.maximum.reduceat(data, cuts)
    rows = np.flatnonzero(long_rows)
    width = int(blocks[rows].max())
    for lo in range(0, len(rows), max(1, PAD_LIMIT // width)):
        part = rows[lo : lo + max(1, PAD_LIMIT // width)]
        pad = np.full((len(part), width), -np.inf)
        sizes = blocks[part]
        local = np.repeat(np.arange(len(part)), sizes)
        offset = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        pad[local, offset] = maxima[np.repeat(first[part], sizes) + offset]
        kth = np.partition(pad, width - k, axis=1)[:, width - k]
        threshold[part] = np.maximum(kth, ABOVE_FLOOR)
    return threshold


SMALLEST_POSITIVE = float(np.nextafter(0.0, 1.0))
CHUNK_ENTRIES = 1 << 17  # entries per pass of the candidate scan (temporaries stay in cache)


def top_positive_positions(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    k: int,
    tie_rank: np.ndarray,
    rows: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best positive entries (data desc, then tie_rank[column] asc), as what a CSR
    cut to them needs: their positions in data, ascending (so each row keeps its entry order),
    and the count per row. With a boolean `rows`, the other rows keep nothing.

    The same entries as topk_rows on data with its non-positive values set to -inf (the served
    top-N of the index), without that copy: the threshold of the block maxima is floored at the
    smallest positive float instead, which leaves out every entry that is not positive, and the
    candidates are found a cache-sized stretch at a time.
    """
    n = len(indptr) - 1
    counts = np.zeros(n, dtype=np.int64)
    if n == 0 or k <= 0 or len(data) == 0:
        return np.zeros(0, dtype=np.int64), counts
    if k <= BLOCK_K:
        threshold = _block_threshold(indptr, data, k)
    else:
        threshold = _many_block_threshold(indptr, data, k)
    np.maximum(threshold, SMALLEST_POSITIVE, out=threshold)
    if rows is not None:
        threshold[~rows] = np.nan  # nothing compares >= NaN
    lengths = np.diff(indptr)
    parts = []
    row = 0
    while row < n:
        end = int(np.searchsorted(indptr, int(indptr[row]) + CHUNK_ENTRIES, side="right")) - 1
        end = min(max(end, row + 1), n)
        lo, hi = int(indptr[row]), int(indptr[end])
        if hi > lo:
            above = data[lo:hi] >= np.repeat(threshold[row:end], lengths[row:end])
            parts.append(np.flatnonzero(above) + lo)
        row = end
    candidates = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    if len(candidates) == 0:
        return candidates, counts
    c_rows = np.searchsorted(indptr, candidates, side="right") - 1
    order = _row_order(c_rows, data[candidates], tie_rank[indices[candidates]])
    c_rows = c_rows[order]
    first = np.searchsorted(c_rows, c_rows, side="left")
    keep = (np.arange(len(c_rows)) - first) < k
    kept = np.sort(candidates[order][keep])
    counts[:] = np.bincount(c_rows[keep], minlength=n)
    return kept, counts


def _row_order(rows: np.ndarray, values: np.ndarray, ties: np.ndarray) -> np.ndarray:
    """The order of np.lexsort((ties, -values, rows)) (rows ascending, values descending, ties
    ascending; every (row, tie) pair distinct), from one integer sort where the three fit in 63
    bits: values become their dense rank among themselves, exactly (no float rounding)."""
    by_value = np.argsort(-values, kind="stable")
    ordered = values[by_value]
    dense = np.empty(len(values), dtype=np.int64)
    dense[by_value] = np.concatenate([[0], np.cumsum(ordered[1:] != ordered[:-1])])
    tie_bits = max(int(ties.max()), 1).bit_length()
    value_bits = max(int(dense[by_value[-1]]), 1).bit_length()
    row_bits = max(int(rows[-1]), 1).bit_length()
    if tie_bits + value_bits + row_bits > 62 or int(ties.min()) < 0:
        return np.lexsort((ties, -values, rows))
    key = (rows.astype(np.int64) << (value_bits + tie_bits)) | (dense << tie_bits) | ties.astype(np.int64)
    return np.argsort(key)

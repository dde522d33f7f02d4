"""Row-wise top-K of sparse rows, vectorised: score descending, then a tie rank ascending."""

from __future__ import annotations

import numpy as np

PAD_LIMIT = 8_000_000  # cells of the padded block used to find large-k thresholds
FLOOR = -1e299  # entries at or below this (cart items, -inf) are never recommended
ABOVE_FLOOR = float(np.nextafter(FLOOR, np.inf))
BLOCK_K = 4  # up to this k, thresholds come from block maxima (one pass); beyond, from partitions


def row_ids(indptr: np.ndarray, dtype=np.int32, out: np.ndarray | None = None) -> np.ndarray:
    """The row of each stored entry (as np.intp, gathers by these rows skip a conversion).

    With `out` (indptr[-1] items) the rows are written there: a mark where each row begins, summed.
    """
    if out is None:
        return np.repeat(np.arange(len(indptr) - 1, dtype=dtype), np.diff(indptr))
    out.fill(0)
    begins = indptr[1:-1]
    np.add.at(out, begins[begins < len(out)], 1)  # empty rows mark the same place more than once
    return np.cumsum(out, out=out)


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


def topk_rows(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    k: int,
    tie_rank: np.ndarray,
    rows: np.ndarray | None = None,
    positions: bool = False,
    scratch: dict | None = None,
) -> np.ndarray:
    """Column indices of each row's k best entries (-1 padded); entries <= FLOOR never count.

    Order: data descending, then tie_rank[column] ascending (exact, no float tricks). With
    positions=True the entries' positions in data are returned instead of their columns.
    `rows` (row_ids(indptr)) and `scratch` (a dict of reusable arrays) may be passed by callers
    that rank several value arrays of one layout.
    """
    n = len(indptr) - 1
    out = np.full((n, k), -1, dtype=np.int64)
    if n == 0 or k <= 0 or len(data) == 0:
        return out
    if k <= BLOCK_K:
        candidates = _at_least(data, _block_threshold(indptr, data, k), indptr, rows, scratch)
    else:
        # float32 rounding is monotonic, so these candidates are a superset of the exact top k;
        # the exact float64 order below then picks them.
        if rows is None:
            rows = row_ids(indptr)
        with np.errstate(over="ignore"):  # below-FLOOR markers become -inf, as intended
            data32 = data.astype(np.float32)
        threshold = _kth_largest_padded(indptr, data32, k)
        candidates = np.flatnonzero((data32 >= threshold[rows]) & (data32 > -np.inf))
    if len(candidates) == 0:
        return out
    c_rows = rows[candidates] if rows is not None else np.searchsorted(indptr, candidates, side="right") - 1
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


def _at_least(data, threshold, indptr, rows, scratch) -> np.ndarray:
    """Positions of the entries >= their row's threshold."""
    if rows is None or scratch is None:
        return np.flatnonzero(data >= np.repeat(threshold, np.diff(indptr)))
    bound = scratch_array(scratch, "bound", len(data), threshold.dtype)
    np.take(threshold, rows, out=bound, mode="clip")  # clip: no bounds-check buffer (rows are valid)
    mask = scratch_array(scratch, "mask", len(data), bool)
    np.greater_equal(data, bound, out=mask)
    return np.flatnonzero(mask)


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

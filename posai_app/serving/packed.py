"""A shop's serving index as one compact, versioned object (stored in `serving_indexes.payload`).

The payload is numpy's .npz container (a zip of .npy arrays, read by `numpy.load`; no pickle),
deflated at level 1: scores are float64 and barely compress, so higher levels cost three times
the time for 3 % fewer bytes. It holds:

    format       int64 scalar, FORMAT (a reader refuses formats it does not know)
    ids          int64 variant ids in the index's tie order (most orders first, then id as strings)
    counts       int64 orders per variant (the tie order's first key)
    indptr       int64 CSR row pointers: variant i's neighbours are [indptr[i], indptr[i+1])
    targets      int32 neighbour positions into ids, best first per row
    scores       float64 neighbour scores (exact: the API sums them and rounds to 6 places)
    co_counts    int32 co-purchase counts
    best_ids     int64 the bestseller pool (posai_app.reco.serving.rank_bestsellers), best first
    best_counts  float64 its recent order counts
    cart_decay   float64 scalar, the index's cart weighting (NeighborIndex.cart_decay); absent
                 in payloads written before it existed, which read as 1 (every cart item counts fully)

A shop without an index (nothing learnt yet) stores empty `ids` with a one-entry `indptr`.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex

FORMAT = 1
COMPRESS_LEVEL = 1


class UnknownFormat(ValueError):
    pass


def pack(index: NeighborIndex | None, bestsellers: Sequence[tuple[str, float]]) -> bytes:
    """The index and bestseller pool as one payload (variant ids must be integers)."""
    import numpy as np

    if index is None:
        arrays = {
            "ids": np.zeros(0, np.int64),
            "counts": np.zeros(0, np.int64),
            "indptr": np.zeros(1, np.int64),
            "targets": np.zeros(0, np.int32),
            "scores": np.zeros(0, np.float64),
            "co_counts": np.zeros(0, np.int32),
        }
    else:
        counts = index.counts
        arrays = {
            "ids": np.fromiter(map(int, index.ids), dtype=np.int64, count=len(index.ids)),
            "counts": np.array([counts[v] for v in index.ids], dtype=np.int64),
            "indptr": np.asarray(index.indptr, dtype=np.int64),
            "targets": np.asarray(index.targets, dtype=np.int32),
            "scores": np.asarray(index.scores, dtype=np.float64),
            "co_counts": np.asarray(index.co_counts, dtype=np.int32),
            "cart_decay": np.float64(index.cart_decay),
        }
    arrays["best_ids"] = np.array([int(v) for v, _ in bestsellers], dtype=np.int64)
    arrays["best_counts"] = np.array([float(c) for _, c in bestsellers], dtype=np.float64)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as archive:
        for name, array in {"format": np.int64(FORMAT), **arrays}.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def unpack(payload: bytes) -> tuple[NeighborIndex | None, tuple[tuple[str, float], ...]]:
    """(index or None, bestseller pool) from a payload written by `pack`."""
    import numpy as np

    from posai_app.reco import NeighborIndex

    with np.load(io.BytesIO(payload), allow_pickle=False) as data:
        version = int(data["format"])
        if version != FORMAT:
            raise UnknownFormat(f"serving index format {version} is not known to this version of POSAI")
        arrays = {name: data[name] for name in data.files}
    best = tuple(zip(map(str, arrays["best_ids"].tolist()), arrays["best_counts"].tolist(), strict=True))
    if len(arrays["ids"]) == 0:
        return None, best
    index = NeighborIndex(
        [str(v) for v in arrays["ids"].tolist()],
        arrays["counts"],
        arrays["indptr"],
        arrays["targets"],
        arrays["scores"],
        arrays["co_counts"],
        float(arrays["cart_decay"]) if "cart_decay" in arrays else 1.0,
    )
    return index, best

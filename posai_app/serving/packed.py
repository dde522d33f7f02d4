"""A shop's serving index as one compact, versioned object (stored in `serving_indexes.payload`).

The payload is numpy's .npz container (a zip of .npy arrays, read by `numpy.load`; no pickle).
Each array is deflated (level 1: higher levels cost three times the time for 3 % fewer bytes)
only when that at least halves it, judged on its first 64 KiB: inflating is most of a load's
time (every web process loads a shop's index after each retrain, and a cold shop on its first
cart), and float scores or neighbour positions barely compress. Ids, counts, row pointers and
co-purchase counts usually shrink four- to a hundredfold and stay deflated. The reader does not
depend on the choice (each zip member says how it is stored), so payloads written before it,
deflated throughout, read the same. It holds:

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
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex

FORMAT = 1
COMPRESS_LEVEL = 1
DEFLATE_IF_AT_MOST = 0.5  # deflated / raw size of a member's sample at which it is kept deflated
SAMPLE_BYTES = 64 * 1024


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
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in {"format": np.int64(FORMAT), **arrays}.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
            data = member.getbuffer()
            archive.writestr(
                zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                data,
                compress_type=zipfile.ZIP_DEFLATED if _worth_deflating(data) else zipfile.ZIP_STORED,
                compresslevel=COMPRESS_LEVEL,
            )
    return buffer.getvalue()


def _worth_deflating(data: memoryview) -> bool:
    sample = data[:SAMPLE_BYTES]
    return len(zlib.compress(sample, COMPRESS_LEVEL)) <= DEFLATE_IF_AT_MOST * len(sample)


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

"""Row-wise top-K (reco.topk) against a plain sort of every row, ties and cart markers included."""

from __future__ import annotations

import numpy as np
import pytest

from posai_app.reco.topk import FLOOR, topk_rows


def brute_force(indptr, indices, data, k, tie_rank, positions=False):
    """Each row sorted by (score desc, tie rank asc), entries <= FLOOR left out, -1 padded."""
    out = np.full((len(indptr) - 1, k), -1, dtype=np.int64)
    for r in range(len(indptr) - 1):
        entries = [p for p in range(indptr[r], indptr[r + 1]) if data[p] > FLOOR]
        entries.sort(key=lambda p: (-data[p], tie_rank[indices[p]]))
        for slot, p in enumerate(entries[:k]):
            out[r, slot] = p if positions else indices[p]
    return out


def random_rows(seed: int, n_rows: int = 60, n_cols: int = 40):
    """Rows of assorted lengths (empty ones at the start, middle and end), few distinct values
    (so ties are common) and some FLOOR markers, in no particular column order."""
    rng = np.random.default_rng(seed)
    lengths = rng.choice([0, 1, 2, 3, 5, 9, 20, 40], size=n_rows)
    lengths[0] = lengths[n_rows // 2] = lengths[-1] = lengths[-2] = 0
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([rng.permutation(n_cols)[:size] for size in lengths]).astype(np.int32)
    data = rng.integers(1, 6, size=len(indices)).astype(np.float64) / 4
    data[rng.random(len(data)) < 0.15] = -1e300  # cart items
    tie_rank = rng.permutation(n_cols)
    return indptr, indices, data, tie_rank


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize("seed", range(6))
def test_topk_rows_matches_a_full_sort(seed, k):
    indptr, indices, data, tie_rank = random_rows(seed)
    expected = brute_force(indptr, indices, data, k, tie_rank)
    assert np.array_equal(topk_rows(indptr, indices, data, k, tie_rank), expected)


@pytest.mark.parametrize("k", [2, 6])
def test_topk_rows_positions(k):
    indptr, indices, data, tie_rank = random_rows(7)
    got = topk_rows(indptr, indices, data, k, tie_rank, positions=True)
    assert np.array_equal(got, brute_force(indptr, indices, data, k, tie_rank, positions=True))


def test_a_block_of_cart_items_does_not_hide_the_best_entries():
    # Row [0.5, 0.4 | FLOOR, FLOOR]: the second block's maximum is a cart marker, so the block
    # bound says nothing; both real entries must still come back, best first.
    indptr = np.array([0, 4])
    indices = np.array([0, 1, 2, 3], dtype=np.int32)
    data = np.array([0.5, 0.4, -1e300, -1e300])
    assert topk_rows(indptr, indices, data, 2, np.arange(4)).tolist() == [[0, 1]]


def test_ties_go_to_the_lower_tie_rank():
    indptr = np.array([0, 5])
    indices = np.array([4, 3, 2, 1, 0], dtype=np.int32)
    data = np.array([1.0, 2.0, 2.0, 1.0, 2.0])
    tie_rank = np.array([4, 0, 3, 1, 2])  # tie order of the columns: 1, 3, 4, 2, 0
    assert topk_rows(indptr, indices, data, 2, tie_rank).tolist() == [[3, 2]]
    assert topk_rows(indptr, indices, data, 4, tie_rank).tolist() == [[3, 2, 0, 1]]


def test_nothing_to_rank():
    empty = np.zeros(0)
    assert topk_rows(np.array([0, 0, 0]), empty.astype(np.int32), empty, 2, np.arange(3)).tolist() == [
        [-1, -1],
        [-1, -1],
    ]


@pytest.mark.parametrize("k", [5, 7, 12, 50])
@pytest.mark.parametrize("seed", range(4))
def test_larger_k_on_long_rows_matches_a_full_sort(seed, k):
    # Rows from empty to many times k (the index's top-50 path), ties and cart markers included.
    rng = np.random.default_rng(100 + seed)
    n_rows, n_cols = 80, 900
    lengths = rng.choice([0, 1, k - 1, k, k + 1, 3 * k, 4 * k + 3, 17 * k], size=n_rows).clip(0, n_cols)
    lengths[0] = lengths[-1] = 0
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.concatenate([rng.permutation(n_cols)[:size] for size in lengths]).astype(np.int32)
    data = rng.integers(1, 40, size=len(indices)).astype(np.float64) / 8
    data[rng.random(len(data)) < 0.1] = -np.inf
    data[rng.random(len(data)) < 0.1] = -1e300
    tie_rank = rng.permutation(n_cols)
    for positions in (False, True):
        expected = brute_force(indptr, indices, data, k, tie_rank, positions)
        assert np.array_equal(topk_rows(indptr, indices, data, k, tie_rank, positions), expected)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 20])
@pytest.mark.parametrize("seed", range(8))
def test_top_positive_positions_are_the_served_cut(seed, k, monkeypatch):
    """The served form (index.truncate: each row's top-k positive entries, entry order kept) of the
    chosen rows, found without copying the data: zeros, negatives and cart markers never count."""
    import scipy.sparse as sp

    from posai_app.reco import topk
    from posai_app.reco.index import truncate

    monkeypatch.setattr(topk, "CHUNK_ENTRIES", 7)  # many short scans, rows straddling none
    indptr, indices, data, tie_rank = random_rows(seed, n_rows=80)
    rng = np.random.default_rng(seed + 100)
    data = data - 0.5 * (rng.random(len(data)) < 0.2)  # some zeros and negatives besides the markers
    rows = rng.random(len(indptr) - 1) < 0.7
    sim = sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, 40))
    kept, counts = topk.top_positive_positions(indptr, indices, data, k, tie_rank, rows)
    cut = np.zeros(len(indptr), dtype=np.int64)
    np.cumsum(counts, out=cut[1:])
    masked = sim.copy()
    masked.data[~np.repeat(rows, np.diff(indptr))] = 0.0
    expected = truncate(masked, tie_rank, k)
    assert np.array_equal(cut, expected.indptr)
    assert np.array_equal(indices[kept], expected.indices)
    assert np.array_equal(data[kept], expected.data)

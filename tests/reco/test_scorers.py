"""Every scorer on the SMALL history (counts A3 B3 C3 D1, N = 5; co AB 2, AC 1, BC 2, AD 1)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posai_app.reco import SCORERS, SELECTION_ORDER
from posai_app.reco.stats import History, Stats
from tests.reco.conftest import SMALL


@pytest.fixture
def stats() -> Stats:
    history = History(SMALL, list(range(len(SMALL))))
    return Stats.build(history, 0, len(SMALL))


def sim(stats: Stats, name: str, source: str, target: str, **params) -> float:
    matrix = SCORERS[name].build(stats, **params)
    vocab = stats.history.vocab
    return float(matrix[vocab[source], vocab[target]])


def test_statistics(stats):
    vocab = stats.history.vocab
    assert stats.n == 5
    assert {v: int(stats.counts[i]) for v, i in vocab.items()} == {"A": 3, "B": 3, "C": 3, "D": 1}
    co = stats.co.toarray()
    assert co[vocab["A"], vocab["B"]] == 2 and co[vocab["B"], vocab["C"]] == 2
    assert co[vocab["A"], vocab["C"]] == 1 and co[vocab["A"], vocab["D"]] == 1
    assert co[vocab["B"], vocab["D"]] == 0 and np.all(np.diag(co) == 0)
    assert (co == co.T).all()


@pytest.mark.parametrize(
    ("name", "a", "b", "expected"),
    [
        ("cooccurrence", "A", "B", 2.0),
        ("cosine", "A", "B", 2 / 3),
        ("cosine", "A", "D", 1 / math.sqrt(3)),
        ("confidence", "A", "D", 1 / 3),
        ("confidence", "D", "A", 1.0),
        ("lift", "A", "B", 2 * 5 / 9),
        ("lift", "A", "D", 5 / 3),
        ("jaccard", "A", "B", 0.5),
        ("jaccard", "A", "C", 0.2),
        ("jaccard", "A", "D", 1 / 3),
    ],
)
def test_basic_scorers(stats, name, a, b, expected):
    assert sim(stats, name, a, b) == pytest.approx(expected, rel=1e-12)


def test_pairs_never_bought_together_are_not_candidates(stats):
    for name in SELECTION_ORDER:
        params = SCORERS[name].grid[0]
        assert sim(stats, name, "B", "D", **params) == 0.0


def test_asymmetric_cosine(stats):
    assert sim(stats, "asymmetric", "A", "B", alpha=0.5, shrink=1.0) == pytest.approx(2 / (3 + 1))
    # alpha = 0 is confidence, alpha = 1/2 and no shrinkage is cosine
    assert sim(stats, "asymmetric", "D", "A", alpha=0.0, shrink=0.0) == pytest.approx(1.0)
    assert sim(stats, "asymmetric", "A", "D", alpha=0.5, shrink=0.0) == pytest.approx(1 / math.sqrt(3))
    assert sim(stats, "asymmetric", "D", "A", alpha=0.25, shrink=0.0) == pytest.approx(1 / 3**0.25)


def test_time_decay_halves_an_order_one_half_life_old():
    # two orders with A, B: one today, one 10 days earlier; half-life 10 days
    history = History([["A", "B"], ["A", "B"], ["C"]], [0, 10 * 86_400_000_000, 10 * 86_400_000_000])
    stats = Stats.build(history, 0, 3)
    counts, co = stats.weighted(10.0)
    vocab = history.vocab
    assert counts[vocab["A"]] == pytest.approx(1.5)
    assert co[vocab["A"], vocab["B"]] == pytest.approx(1.5)
    value = SCORERS["asymmetric_decay"].build(stats, alpha=0.5, shrink=0.0, half_life=10.0)
    assert value[vocab["A"], vocab["B"]] == pytest.approx(1.5 / 1.5)


def test_rp3beta(stats):
    # A -> B through o1 (3 items) and o2 (2 items): 1/(3·3) + 1/(3·2) = 5/18, then / cB^beta
    assert sim(stats, "rp3beta", "A", "B", beta=0.0) == pytest.approx(5 / 18)
    assert sim(stats, "rp3beta", "A", "B", beta=1.0) == pytest.approx(5 / 54)
    # D -> A through o4 (2 items): 1/(1·2)
    assert sim(stats, "rp3beta", "D", "A", beta=0.5) == pytest.approx(0.5 / math.sqrt(3))


def test_bm25(stats):
    k1, b = 1.2, 0.75
    mean_count = (3 + 3 + 3 + 1) / 4

    def weight(count: int, basket: int) -> float:
        idf = max(math.log(4) - math.log1p(basket), 1e-3)  # floored: o1 says (almost) nothing
        return (k1 + 1) / (k1 * ((1 - b) + b * count / mean_count) + 1) * idf

    # A and B share o1 (3 items) and o2 (2 items)
    expected = weight(3, 3) * weight(3, 3) + weight(3, 2) * weight(3, 2)
    assert sim(stats, "bm25", "A", "B", k1=k1, b=b) == pytest.approx(expected)


def test_ease_matches_the_closed_form_on_co_occurring_pairs(stats):
    lam = 2.0
    vocab = stats.history.vocab
    x = stats.history.incidence(0, 5).toarray()
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = -p / np.diag(p)
    for a_id, b_id in (("A", "B"), ("B", "A"), ("A", "D"), ("C", "B")):
        expected = b[vocab[a_id], vocab[b_id]]
        assert sim(stats, "ease", a_id, b_id, lam=lam) == pytest.approx(expected, rel=1e-5)
    assert sim(stats, "ease", "B", "D", lam=lam) == 0.0  # never bought together: not a candidate


def test_ease_keeps_only_the_most_bought_variants(stats):
    # max_variants=3 keeps A, B, C (count 3); D (count 1) gets no EASE weights at all
    assert sim(stats, "ease", "A", "D", lam=2.0, max_variants=3) == 0.0
    assert sim(stats, "ease", "A", "B", lam=2.0, max_variants=3) != 0.0


def test_popularity_is_a_baseline_not_a_selectable_scorer():
    from posai_app.reco import POPULARITY

    assert POPULARITY == "popularity" and not SCORERS[POPULARITY].selectable
    assert POPULARITY not in SELECTION_ORDER
    assert SELECTION_ORDER[:5] == ("cooccurrence", "cosine", "confidence", "lift", "jaccard")


@pytest.mark.parametrize("name", ["cooccurrence", "cosine", "confidence", "lift", "jaccard"])
def test_basic_values_do_not_depend_on_the_block_size(monkeypatch, name):
    """The formulas run block by block; blocks of 1-2 rows give the very same floats as one block,
    which are the formulas applied to the whole arrays at once."""
    from posai_app.reco import scorers

    history = History([["A", "B", "C"], ["B", "C", "D"], ["A", "E"], ["C", "E", "B"], ["D"]], list(range(5)))
    stats = Stats.build(history, 0, 5)
    co = stats.co.data
    ca = stats.on_rows(stats.counts).astype(np.int64)
    cb = stats.counts[stats.co.indices]
    whole = {
        "cooccurrence": co,
        "cosine": co / np.sqrt((ca * cb).astype(np.float64)),
        "confidence": co / ca,
        "lift": (co * stats.n) / (ca * cb).astype(np.float64),
        "jaccard": co / (ca + cb - co),
    }[name]
    out = np.full(stats.co.nnz, np.nan)
    monkeypatch.setattr(scorers, "BLOCK", 2)
    scorers.BASIC_VALUES[name](stats, out)
    assert out.tobytes() == whole.tobytes()
    # ... also into a strided view (how evaluation writes them: half of a complex array)
    packed = np.zeros(stats.co.nnz, dtype=np.complex128)
    scorers.BASIC_VALUES[name](stats, packed.imag)
    assert packed.imag.tobytes() == whole.tobytes() and not packed.real.any()


def test_sparse_ease_is_within_two_percent_of_dense_ease():
    """A sparse catalog where both fit: HitRate@2 of the sparse approximation vs dense EASE."""
    import sys
    from pathlib import Path

    from posai_app.reco.evaluation import Cases
    from posai_app.reco.index import truncate
    from posai_app.reco.scorers import ease, sparse_ease

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from synthetic import fast_baskets

    baskets = fast_baskets(30_000, 1_500, 3.0, seed=5)
    history = History(baskets, list(range(len(baskets))))
    cut = history.split()
    stats = Stats.build(history, 0, cut)
    cases = Cases(history, cut, history.n_orders)
    lam = float(stats.counts[stats.counts > 0].mean())

    def hit_rate(sim) -> float:
        recs = cases.recommend(truncate(sim, stats.rank, 50), 2, stats.rank)
        return cases.figures(recs, 2)["hitRate"]

    dense = hit_rate(ease(stats, lam=lam, max_variants=10**6))
    # a head of a third of the catalog: the other variants are regressed on their co-neighbours
    sparse = hit_rate(sparse_ease(stats, lam=lam, max_variants=500))
    assert cases.n > 4000 and dense > 0.05
    assert abs(sparse - dense) / dense <= 0.02
    # a head holding the whole catalog is dense EASE
    whole = sparse_ease(stats, lam=lam, max_variants=10**6)
    assert np.array_equal(whole.data, ease(stats, lam=lam, max_variants=10**6).data)


def test_sparse_ease_tail_columns_are_exact_ridge_regressions():
    """Each tail column is the ridge regression of its orders on its co-occurring variants."""
    from posai_app.reco.scorers import _transpose_positions, sparse_ease, sparse_tail

    rng = np.random.default_rng(4)
    baskets = [
        [str(v) for v in dict.fromkeys((rng.zipf(1.6, size=int(rng.integers(1, 5))) % 40).tolist())]
        for _ in range(600)
    ]
    history = History(baskets, list(range(len(baskets))))
    stats = Stats.build(history, 0, 500)
    lam, head = 3.0, 8
    sim = sparse_ease(stats, lam=lam, max_variants=head)
    x = history.incidence(0, 500).toarray()
    gram = x.T @ x + lam * np.eye(x.shape[1])
    tail = sparse_tail(stats, head)
    rows = np.repeat(np.arange(stats.co.shape[0]), np.diff(stats.co.indptr))
    transpose = _transpose_positions(stats)
    assert len(tail.columns) > 5
    for i, j in enumerate(tail.columns):
        span = slice(tail.indptr[i], tail.indptr[i + 1])
        r = tail.regressors[span]
        beta = np.linalg.solve(gram[np.ix_(r, r)], gram[r, j])
        at = transpose[tail.source[span]]  # entries (r, j): B[r, j]
        assert np.array_equal(rows[at], r) and np.all(stats.co.indices[at] == j)
        assert np.allclose(sim.data[at], beta, rtol=1e-9, atol=1e-12)

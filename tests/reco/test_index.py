"""The neighbour index: cart scoring, ties, exclusions, rows round trip (the fallback: test_serving)."""

from __future__ import annotations

import numpy as np
import pytest

from posai_app.reco import NeighborIndex, train
from posai_app.reco.scorers import SCORERS
from posai_app.reco.stats import History, Stats
from tests.reco.conftest import orders_from

ROWS = [
    ("A", "B", 2, 2.0),
    ("A", "C", 1, 1.0),
    ("A", "D", 1, 1.0),
    ("B", "A", 2, 2.0),
    ("B", "C", 2, 2.0),
    ("C", "A", 1, 1.0),
    ("C", "B", 2, 2.0),
    ("D", "A", 1, 1.0),
]
COUNTS = {"A": 3, "B": 3, "C": 3, "D": 1, "E": 5}


@pytest.fixture
def index() -> NeighborIndex:
    return NeighborIndex.from_rows(ROWS, COUNTS)


def test_scores_sum_over_the_cart_and_cart_items_are_never_returned(index):
    assert index.recommend(["A", "C"], 5) == [("B", 4.0), ("D", 1.0)]


def test_ties_go_to_more_orders_then_smaller_id(index):
    # C and D both score 1.0 from A... but C is in 3 orders; then B (2.0) first
    assert index.recommend(["A"], 3) == [("B", 2.0), ("C", 1.0), ("D", 1.0)]
    tied = NeighborIndex.from_rows([("X", "9", 1, 1.0), ("X", "10", 1, 1.0)], {"X": 2, "9": 1, "10": 1})
    assert [v for v, _ in tied.recommend(["X"], 2)] == ["10", "9"]


def test_exclusions_fill_up_from_further_down(index):
    assert index.recommend(["A"], 2, exclude={"B"}) == [("C", 1.0), ("D", 1.0)]
    assert index.recommend(["A"], 2, exclude=lambda v: v == "C") == [("B", 2.0), ("D", 1.0)]


def test_unknown_cart_items_and_limits(index):
    assert index.recommend(["nope"], 3) == []
    assert index.recommend(["A"], 0) == []


def test_rows_round_trip(index):
    again = NeighborIndex.from_rows(index.to_rows(), index.counts)
    assert sorted(again.to_rows()) == sorted(ROWS)
    assert again.counts == COUNTS


def test_index_keeps_top_n_per_variant_with_co_counts():
    baskets = [["A", "B", "C"], ["A", "B"], ["B", "C"], ["A", "D"], ["C"]]
    history = History(baskets, list(range(5)))
    stats = Stats.build(history, 0, 5)
    index = NeighborIndex.from_matrix(
        history.ids, stats.counts, stats.rank, SCORERS["cooccurrence"].build(stats), stats.co, 2
    )
    rows = list(index.to_rows())
    assert [r for r in rows if r[0] == "A"] == [("A", "B", 2, 2.0), ("A", "C", 1, 1.0)]
    assert [r for r in rows if r[0] == "D"] == [("D", "A", 1, 1.0)]
    assert index.counts == {"A": 3, "B": 3, "C": 3, "D": 1}


def test_recommend_is_fast():
    import time

    rng = np.random.default_rng(0)
    baskets = [[str(v) for v in rng.choice(300, size=rng.integers(1, 6), replace=False)] for _ in range(3000)]
    index = train(orders_from(baskets, 0.01), candidates=["cosine"]).index
    cart = ["1", "2", "3"]
    index.recommend(cart, 4)
    started = time.perf_counter()
    for _ in range(1000):
        index.recommend(cart, 4, exclude={"5"})
    assert (time.perf_counter() - started) / 1000 < 1e-3


def test_exclusions_reach_past_the_partial_selection():
    rows = [("X", f"n{i:02d}", 1, float(100 - i)) for i in range(40)]
    index = NeighborIndex.from_rows(rows, {"X": 1})
    excluded = {f"n{i:02d}" for i in range(30)}
    assert [v for v, _ in index.recommend(["X"], 3, exclude=excluded)] == ["n30", "n31", "n32"]
    assert [v for v, _ in index.recommend(["X"], 3)] == ["n00", "n01", "n02"]


def test_a_cart_decay_weighs_each_item_by_the_items_added_after_it():
    # cart_decay 0.5: the newest item (C) counts fully, A (two items later came B and C) a quarter.
    index = NeighborIndex.from_rows(ROWS, COUNTS)
    index.cart_decay = 0.5
    assert index.recommend(["A", "C"], 5) == [("B", 2.0 + 0.5 * 2.0), ("D", 0.5 * 1.0)]
    assert index.recommend(["A", "B", "C"], 5) == [("D", 0.25 * 1.0)]
    # a repeated item keeps its first place in the cart
    assert index.recommend(["A", "C", "A"], 5) == index.recommend(["A", "C"], 5)


def test_served_carts_are_weighted_exactly_as_validation_carts():
    """recommend-batch and the API rank through NeighborIndex.recommend, the report through
    Cases.recommend: with a cart decay both must give every cart the same top-K."""
    from posai_app.reco.evaluation import Cases

    rng = np.random.default_rng(5)
    baskets = [
        [str(v) for v in dict.fromkeys(rng.integers(0, 30, size=int(rng.integers(2, 7))).tolist())]
        for _ in range(600)
    ]
    history = History.from_orders(orders_from(baskets))
    stats = Stats.build(history, 0, 480)
    sim = SCORERS["cosine"].build(stats)
    cases = Cases(history, 480, 600)
    for decay in (1.0, 0.5, 0.125):
        index = NeighborIndex.from_matrix(history.ids, stats.counts, stats.rank, sim, stats.co, 1000, decay)
        expected = cases.recommend(sim, 2, stats.rank, decay)
        for i in range(cases.n):
            cart = [history.ids[v] for v in cases.cart[cases.indptr[i] : cases.indptr[i + 1]]]
            got = [history.ids[c] for c in expected[i] if c >= 0]
            assert [v for v, _ in index.recommend(cart, 2)] == got, (decay, cart)


def test_the_reason_names_the_cart_item_that_weighs_most_after_the_decay():
    # B is listed by A (2.0) and C (2.0); with a decay the newer C is the one that counts most.
    index = NeighborIndex.from_rows(ROWS, COUNTS)
    assert index.contribution(["A", "C"], "B") == ("A", 2)
    index.cart_decay = 0.5
    assert index.contribution(["A", "C"], "B") == ("C", 2)

"""The protocol on hand-computed histories: split, carts, tie-breaking, metrics, popularity."""

from __future__ import annotations

import pytest

from posai_app.reco import evaluate
from posai_app.reco.evaluation import Cases
from posai_app.reco.scorers import SCORERS
from posai_app.reco.stats import History, Stats
from tests.reco.conftest import SMALL, orders_from


def test_figures_by_hand():
    # 7 orders: train = first floor(5.6) = 5 (SMALL); validation o6, o7.
    # o6: cart [A, C], held B. cooccurrence: B = 2 (from A) + 2 (from C), D = 1 -> [B, D]: hit.
    # o7: cart [D], held X (never seen in training): miss. D's only neighbour is A.
    report = evaluate(orders_from([*SMALL, ["A", "C", "B"], ["D", "X"]]), k=2)
    assert (report.train_orders, report.evaluated_orders) == (5, 2)
    assert report.results["cooccurrence"] == {
        "hitRate": 0.5,
        "precision": 0.25,
        "recall": 0.5,
        "coverage": 1.0,
    }
    # popularity: A, B, C tie on 3 orders -> id order; o6 gets [B, D], o7 gets [A, B]
    assert report.results["popularity"]["hitRate"] == 0.5


def test_single_item_validation_orders_are_not_cases_but_count_in_the_split():
    report = evaluate(orders_from([*SMALL, ["A"], ["A", "B"], ["C"], ["D"]]), k=2)
    assert report.train_orders == 7  # floor(0.8 · 9)
    assert report.evaluated_orders == 0
    assert report.results["cosine"] == {"hitRate": 0.0, "precision": 0.0, "recall": 0.0, "coverage": 0.0}


def test_orders_are_split_by_time_not_input_order():
    baskets = [*SMALL, ["A", "C", "B"], ["D", "X"]]
    orders = orders_from(baskets)
    shuffled = [orders[6], orders[2], orders[5], orders[0], orders[4], orders[1], orders[3]]
    assert evaluate(shuffled).to_dict() == evaluate(orders).to_dict()


def _recommend(baskets: list[list[str]], scorer: str, k: int) -> list[list[str]]:
    history = History(baskets, list(range(len(baskets))))
    cut = history.split()
    stats = Stats.build(history, 0, cut)
    cases = Cases(history, cut, history.n_orders)
    recs = cases.recommend(SCORERS[scorer].build(stats), k, stats.rank)
    return [[history.ids[c] for c in row if c >= 0] for row in recs]


def test_ties_go_to_more_orders_then_smaller_id_as_string():
    # X co-occurs once with each of "9", "10", "2"; "2" is in 2 orders, "9" and "10" in 1.
    train = [["X", "9"], ["X", "10"], ["X", "2"], ["2"]]
    baskets = [*train, ["X", "held"]]  # 5 orders: 4 train, 1 case
    assert _recommend(baskets, "cooccurrence", 3) == [["2", "10", "9"]]


def test_cart_items_are_never_recommended_and_scores_sum_over_the_cart():
    train = [["A", "B"], ["A", "C"], ["B", "C"], ["C", "D"], ["A", "D"], ["B", "D"], ["D", "E"], ["E"]]
    baskets = [*train, ["A", "B", "Z"], ["X", "Y"]]  # 10 orders: 8 train
    # cart [A, B]: C = 1 + 1, D = 1 + 1, E = 0 -> C and D tie on 2; D is in 4 orders, C in 3
    assert _recommend(baskets, "cooccurrence", 2) == [["D", "C"], []]


def test_coverage_counts_cases_with_any_recommendation():
    report = evaluate(orders_from([["A", "B"], ["A", "B"], ["A", "B"], ["A", "B"], ["Q", "R"]]), k=2)
    assert report.results["cooccurrence"]["coverage"] == 0.0
    assert report.results["popularity"]["coverage"] == 1.0


@pytest.mark.parametrize("k", [1, 3])
def test_k_is_a_parameter(k):
    report = evaluate(orders_from([*SMALL, ["A", "C", "B"], ["D", "X"]]), k=k)
    assert report.k == k
    assert report.results["cooccurrence"]["precision"] == pytest.approx(
        report.results["cooccurrence"]["hitRate"] / k
    )


def test_report_json_shape():
    out = evaluate(orders_from([*SMALL, ["A", "C", "B"], ["D", "X"]])).to_dict()
    assert list(out) == ["k", "trainOrders", "evaluatedOrders", "results", "best"]
    assert list(out["results"]) == ["cooccurrence", "cosine", "confidence", "lift", "jaccard", "popularity"]
    for figures in out["results"].values():
        assert list(figures) == ["hitRate", "precision", "recall", "coverage"]


def test_best_is_highest_hit_rate_with_ties_to_the_earlier_scorer():
    from posai_app.reco.evaluation import select_best

    results = {"cooccurrence": {"hitRate": 0.1}, "cosine": {"hitRate": 0.2}, "lift": {"hitRate": 0.2}}
    assert select_best(results, ["cooccurrence", "cosine", "confidence", "lift", "jaccard"]) == "cosine"

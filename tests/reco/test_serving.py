"""The serving policy (pure): pick from the index, filter, fall back on recent bestsellers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from posai_app.reco import History, NeighborIndex
from posai_app.reco.serving import (
    Sellable,
    bestsellers,
    every_variant_sellable,
    order_counts,
    rank_bestsellers,
    recent_counts,
    recommend,
    variant_stats,
)
from tests.reco.conftest import orders_from
from tests.reco.test_index import COUNTS, ROWS

# All-time counts as recent counts: the fallback ranks as the index's tie order does.
POPULAR = rank_bestsellers((v, c, c) for v, c in COUNTS.items())


@pytest.fixture
def index() -> NeighborIndex:
    return NeighborIndex.from_rows(ROWS, COUNTS)


def ids(answer) -> list[str]:
    return answer.variant_ids


def test_bestsellers_fill_up_after_the_index_picks(index):
    assert rank_bestsellers(((v, c, c) for v, c in COUNTS.items()), size=2) == (("E", 5.0), ("A", 3.0))
    assert ids(recommend(index, ["D"], 3, every_variant_sellable, POPULAR)) == ["A", "E", "B"]
    assert ids(recommend(index, ["nope"], 2, every_variant_sellable, POPULAR)) == ["E", "A"]
    answer = recommend(index, ["D"], 3, every_variant_sellable, POPULAR)
    assert [(p.variant_id, p.score, p.source) for p in answer.picks] == [
        ("A", 1.0, "model"),
        ("E", 5.0, "bestsellers"),
        ("B", 3.0, "bestsellers"),
    ]


def test_fallback_can_be_turned_off_and_no_index_means_bestsellers_only(index):
    assert ids(recommend(index, ["D"], 3, every_variant_sellable, POPULAR, fallback=False)) == ["A"]
    assert ids(recommend(None, ["A"], 2, every_variant_sellable, POPULAR)) == ["E", "B"]
    assert ids(recommend(None, ["A"], 2, every_variant_sellable, POPULAR, fallback=False)) == []


def catalog_of(listings: dict[str, Sellable], asked: list | None = None):
    def catalog(variant_ids):
        if asked is not None:
            asked.append(list(variant_ids))
        return {v: listings[v] for v in variant_ids if v in listings}

    return catalog


def test_every_filter_applies_to_picks_and_bestsellers_alike():
    # X's neighbours, best first: each fails one rule but the last two.
    rows = [("X", t, 1, float(10 - i)) for i, t in enumerate("abcdefgh")]
    index = NeighborIndex.from_rows(rows, {"X": 1})
    ok = Sellable(product_id="p")
    listings = {
        "X": replace(ok, product_id="px"),
        "a": replace(ok, product_id="px"),  # another variant of the cart's product
        "b": replace(ok, product_id="pb", status="archived"),
        "c": replace(ok, product_id="pc", deleted=True),
        "d": replace(ok, product_id="pd", is_gift_card=True),
        "e": replace(ok, product_id="pe"),  # excluded product
        "f": replace(
            ok, product_id="pf", inventory_tracked=True, inventory_policy="deny", inventory_quantity=0
        ),
        "g": replace(
            ok, product_id="pg", inventory_tracked=True, inventory_policy="continue", inventory_quantity=0
        ),
        "h": replace(ok, product_id="pg"),  # same product as g, picked first
        "k": replace(ok, product_id="pk"),
        # "u" is in no catalog: unknown
    }
    best = (("u", 9.0), ("f", 8.0), ("X", 7.0), ("k", 6.0))
    answer = recommend(index, ["X"], 3, catalog_of(listings), best, excluded_products={"pe"}, explain=True)
    assert [(p.variant_id, p.source) for p in answer.picks] == [("g", "model"), ("k", "bestsellers")]
    assert [(s.variant_id, s.reason) for s in answer.skipped] == [
        ("a", "same_product"),
        ("b", "inactive"),
        ("c", "inactive"),
        ("d", "gift_card"),
        ("e", "excluded"),
        ("f", "out_of_stock"),
        ("h", "same_product"),
        ("u", "unknown_variant"),
        ("X", "in_cart"),
    ]


def test_the_catalog_is_asked_at_most_twice(index):
    asked: list = []
    recommend(index, ["A"], 2, catalog_of(every_variant_sellable(list("ABCDE")), asked), POPULAR)
    assert asked == [["B", "C", "D", "A"]]  # the index filled the answer: no bestseller lookup
    asked.clear()
    recommend(index, ["D"], 3, catalog_of(every_variant_sellable(list("ABCDE")), asked), POPULAR)
    assert asked == [["A", "D"], ["E", "B", "C", "D"]]  # the model's candidates are not asked for again


def test_bestsellers_are_the_90_days_up_to_the_latest_order():
    # One order a day: E alone on the last day, A and B 100 days before, C and D in between.
    orders = orders_from([["A", "B"], ["A"]], 1.0)
    history = History.from_orders(
        [
            *orders,
            *[
                o._replace(order_id=f"r{i}", created_at=orders[0].created_at + timedelta(days=20 + i))
                for i, o in enumerate(orders_from([["C", "D"], ["C"], ["D", "C"]]))
            ],
            orders[0]._replace(
                order_id="last", created_at=orders[0].created_at + timedelta(days=101), variant_ids=["E", "C"]
            ),
        ]
    )
    assert order_counts(history) == {"A": 2, "B": 1, "C": 4, "D": 2, "E": 1}
    assert recent_counts(history) == {"C": 4, "D": 2, "E": 1}
    assert sorted(variant_stats(history)) == [("A", 2, 0), ("B", 1, 0), ("C", 4, 4), ("D", 2, 2), ("E", 1, 1)]
    assert bestsellers(history) == (("C", 4.0), ("D", 2.0), ("E", 1.0))
    assert bestsellers(history, size=2) == (("C", 4.0), ("D", 2.0))

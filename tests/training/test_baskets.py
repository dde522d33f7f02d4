"""The train job's array reader gives exactly what iter_orders + History.from_orders give.

Runs on the suite's backend: PostgreSQL (binary COPY) by default, SQLite with TEST_DATABASE_URL=sqlite.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.reco.serving import order_counts, recent_counts
from posai_app.reco.stats import History
from posai_app.training import baskets
from posai_app.training.baskets import iter_orders, load_history

T0 = datetime(2025, 1, 1, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def line(shop_id: int, line_item_id: int, order_id: int, created_at: datetime, variant_id, **extra):
    return OrderLineItem(
        shop_id=shop_id,
        line_item_id=line_item_id,
        order_id=order_id,
        created_at=created_at,
        variant_id=variant_id,
        product_id=1,
        title="t",
        quantity=1,
        **extra,
    )


def add_random_shop(shop_id: int, seed: int, orders: int = 300) -> None:
    """Ties in created_at, repeated variants, large ids, microseconds, offsets and every filter."""
    rng = random.Random(seed)
    variants = [rng.randrange(1, 10**13) for _ in range(40)]
    db.session.add(
        ProductVariant(
            shop_id=shop_id,
            variant_id=variants[0],
            product_id=1,
            product_title="Gift card",
            is_gift_card=True,
        )
    )
    rows = []
    for n in range(orders):
        when = T0 + timedelta(hours=rng.randrange(60), microseconds=rng.choice([0, 1, 999_999]))
        if rng.random() < 0.3:
            when = when.astimezone(PLUS_TWO)  # the same instant, written with an offset
        order_id = rng.randrange(10**12)
        items = rng.choices(variants, k=rng.choice([1, 2, 2, 3, 5]))
        for position, vid in enumerate(items):
            extra = {}
            roll = rng.random()
            if roll < 0.05:
                extra = {"is_custom_sale": True}
            elif roll < 0.08:
                extra = {"cancelled_at": when}
            elif roll < 0.1:
                vid = None
            rows.append(line(shop_id, order_id * 10 + position, order_id, when, vid, **extra))
    rng.shuffle(rows)  # insertion order must not matter
    db.session.add_all(rows)


def assert_same_history(new: History, old: History) -> None:
    assert new.ids == old.ids
    assert new.indptr.tolist() == old.indptr.tolist()
    assert new.indices.tolist() == old.indices.tolist()
    assert new.times.tolist() == old.times.tolist()
    assert new.has_times and old.has_times


@pytest.mark.parametrize("seed", [1, 2])
def test_the_array_reader_equals_iter_orders(app_ctx, shop, other_shop, seed):
    add_random_shop(shop.id, seed)
    add_random_shop(other_shop.id, seed + 100)  # another shop's rows never leak in
    db.session.commit()
    old_orders = list(iter_orders(shop.id))
    new, old = load_history(shop.id), History.from_orders(old_orders)
    assert_same_history(new, old)
    assert new.n_orders == len(old_orders) > 200


def test_filters_and_line_item_order_within_a_basket(app_ctx, shop):
    when = T0 + timedelta(days=1)
    db.session.add_all(
        [
            line(shop.id, 13, 7, when, 30),
            line(shop.id, 11, 7, when, 10),
            line(shop.id, 12, 7, when, 20),
            line(shop.id, 14, 7, when, 10),  # repeated: counted once, at its first place
            line(shop.id, 15, 7, when, 40, is_custom_sale=True),
            line(shop.id, 16, 7, when, 50, cancelled_at=when),
            line(shop.id, 17, 7, when, None),
            line(shop.id, 18, 7, when, 60),  # a gift card
            line(shop.id, 21, 5, T0, 20),  # earlier order
            ProductVariant(
                shop_id=shop.id, variant_id=60, product_id=6, product_title="Gift", is_gift_card=True
            ),
        ]
    )
    db.session.commit()
    history = load_history(shop.id)
    assert [
        [history.ids[i] for i in history.indices[a:b]] for a, b in zip(history.indptr, history.indptr[1:])
    ] == [
        ["20"],
        ["10", "20", "30"],
    ]
    assert order_counts(history) == {"20": 2, "10": 1, "30": 1}


def test_an_empty_shop_reads_as_an_empty_history(app_ctx, shop):
    history = load_history(shop.id)
    assert history.n_orders == 0 and history.ids == [] and recent_counts(history) == {}


def test_recent_counts_cover_the_90_days_up_to_the_latest_order(app_ctx, shop):
    latest = T0 + timedelta(days=200)
    db.session.add_all(
        [
            line(shop.id, 1, 1, latest - timedelta(days=90, microseconds=1), 11),  # just outside
            line(shop.id, 2, 2, latest - timedelta(days=90), 12),  # just inside
            line(shop.id, 3, 2, latest - timedelta(days=90), 11),
            line(shop.id, 4, 3, latest, 12),
        ]
    )
    db.session.commit()
    assert recent_counts(load_history(shop.id)) == {"12": 2, "11": 1}


def test_postgresql_reads_through_copy_without_row_objects(app_ctx, shop, monkeypatch):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    add_random_shop(shop.id, 3, orders=50)
    db.session.commit()

    def no_fetching(_shop_id):
        raise AssertionError("PostgreSQL must not fetch rows")

    monkeypatch.setattr(baskets, "_fetch_line_items", no_fetching)
    orders, times, variants = baskets._copy_line_items(shop.id)
    assert orders.dtype == times.dtype == variants.dtype == np.int64
    assert_same_history(load_history(shop.id), History.from_orders(list(iter_orders(shop.id))))

"""Convergence under any delivery order (issue #21), as properties: hypothesis generates sets of
deliveries from Shopify's example payloads (orders created, edited, refunded through
current_quantity, cancelled, deleted, redacted; products created, updated, deleted; inventory
items' tracking), then delivers them in an order it chooses, with duplicates, to one shop and in
Shopify's order to another shop with the same Shopify ids; both shops' rows must be equal.

Bounded and derandomized (a fixed seed), so they run in `make test` in seconds;
POSAI_FUZZ_EXAMPLES scales them (`make fuzz`).
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posai_app.extensions import db
from posai_app.shops.lifecycle import delete_shop_data
from posai_app.webhooks import drain, handlers
from posai_app.webhooks.inbox import Entry
from tests.helpers import TEST_API_SECRET
from tests.webhooks import convergence
from tests.webhooks.convergence import apply, delivery_order, shopify_order, stored_state

SCALE = max(1, int(os.environ.get("POSAI_FUZZ_EXAMPLES", "150")) // 150)


def bounded(examples: int):
    return settings(
        max_examples=examples * SCALE,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """New orders ask for a retrain; not here (training has its own tests)."""
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


def _forget(*shops) -> None:
    for shop in shops:
        delete_shop_data(shop.id, keep_shop=True)
    db.session.commit()


def _converges(shop, other_shop, deliveries, shuffled, apply_shuffled=apply) -> None:
    """Shopify's order applied one by one to `shop`, `shuffled` by `apply_shuffled` to the other:
    the same rows."""
    try:
        apply(shop.id, shopify_order(deliveries))
        apply_shuffled(other_shop.id, shuffled)
        expected, got = stored_state(shop.id), stored_state(other_shop.id)
        for table in expected:
            assert got[table] == expected[table], table
    finally:
        db.session.rollback()
        _forget(shop, other_shop)


@bounded(40)
@given(data=st.data())
def test_orders_converge_under_any_delivery_order(app_ctx, shop, other_shop, data):
    deliveries = data.draw(convergence.order_deliveries(), label="deliveries")
    _converges(shop, other_shop, deliveries, data.draw(delivery_order(deliveries), label="order"))


@bounded(40)
@given(data=st.data())
def test_products_and_inventory_items_converge_under_any_delivery_order(app_ctx, shop, other_shop, data):
    deliveries = data.draw(convergence.product_deliveries(), label="deliveries")
    _converges(shop, other_shop, deliveries, data.draw(delivery_order(deliveries), label="order"))


@bounded(30)
@given(data=st.data())
def test_orders_converge_when_a_drain_batches_them(app_ctx, shop, other_shop, data):
    """The inbox's drain applies a shop's order deliveries of a batch in one upsert, after its
    other deliveries (posai_app.webhooks.drain.apply_entries): still the rows of Shopify's order
    applied one by one, however the shuffled deliveries are cut into batches."""
    deliveries = data.draw(convergence.order_deliveries(), label="deliveries")
    shuffled = data.draw(delivery_order(deliveries), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(shuffled) - 1)), max_size=4), label="cuts"))

    def in_batches(shop_id, shuffled):
        entries = [
            Entry(shop_id, f"batched-{n}", d.topic, None, time.time(), json.dumps(d.payload).encode())
            for n, d in enumerate(shuffled)
        ]
        for start, end in zip([0, *cuts], [*cuts, len(entries)], strict=True):
            drain.apply_entries(entries[start:end])

    _converges(shop, other_shop, deliveries, shuffled, in_batches)


@bounded(8)
@given(data=st.data())
def test_orders_converge_through_the_endpoint(app, client, fake, shop, other_shop, run_jobs, data):
    """The same property through POST /webhooks: signed, recorded, deduplicated, queued, applied."""
    deliveries = data.draw(convergence.order_deliveries(), label="deliveries")
    shuffled = data.draw(delivery_order(deliveries), label="order")
    run = uuid.uuid4().hex[:8]

    def post(target, delivery, webhook_id):
        body, headers = fake.webhook(
            delivery.topic, target.domain, delivery.payload, TEST_API_SECRET, webhook_id=webhook_id
        )
        response = client.post("/webhooks", data=body, headers=headers)
        assert response.status_code == 200, response.data

    # A redelivery carries the same webhook id (deduplicated); the first copy decides.
    ids = {id(d): f"{run}-{n}" for n, d in enumerate(deliveries)}
    for delivery in shopify_order(deliveries):
        post(shop, delivery, ids[id(delivery)])
    for n, delivery in enumerate(shuffled):
        # Half the repeats come as a second subscription's delivery (a new webhook id).
        post(other_shop, delivery, ids[id(delivery)] + ("" if n % 2 else f"-{n}"))
    run_jobs()
    with app.app_context():
        try:
            expected, got = stored_state(shop.id), stored_state(other_shop.id)
            for table in expected:
                assert got[table] == expected[table], table
        finally:
            _forget(shop, other_shop)

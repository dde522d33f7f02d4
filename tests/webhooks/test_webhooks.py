"""POST /webhooks: HMAC, dedupe, routing, and convergence however deliveries are ordered."""

from __future__ import annotations

import copy
import random
import time

import pytest
import sqlalchemy as sa

from posai_app.demo import payloads as shopify_shape
from posai_app.extensions import db
from posai_app.models import (
    InventoryLevel,
    OrderLineItem,
    ProductVariant,
    Shop,
    ShopLocation,
    WebhookDelivery,
)
from posai_app.queue import get_redis
from posai_app.webhooks import handlers
from posai_app.webhooks.handlers import HANDLED_TOPICS
from tests.fakeshopify import dataset
from tests.helpers import TEST_API_SECRET, TEST_API_SECRET_OLD
from tests.webhooks import examples


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    """Retrain requests are recorded, not run (training has its own tests)."""
    calls: list[int] = []
    monkeypatch.setattr(handlers, "request_retrain", calls.append)
    return calls


def post(client, fake, topic, shop_domain, payload, *, secret=TEST_API_SECRET, webhook_id=None):
    """Deliver a signed webhook; a handled topic's payload must have the fields of Shopify's example."""
    if topic in HANDLED_TOPICS:
        examples.check_shape(topic, payload)
    body, headers = fake.webhook(topic, shop_domain, payload, secret, webhook_id=webhook_id)
    return client.post("/webhooks", data=body, headers=headers)


def count(model, shop_id=None):
    query = sa.select(sa.func.count()).select_from(model)
    if shop_id is not None:
        query = query.where(model.shop_id == shop_id)
    return db.session.scalar(query)


def one_order():
    return examples.order_from_shape(next(shopify_shape.iter_order_payloads()))


def test_bad_hmac_is_rejected_and_stores_nothing(app, client, fake, shop, run_jobs):
    body, headers = fake.webhook("orders/create", shop.domain, one_order(), "not-the-secret-" * 3)
    response = client.post("/webhooks", data=body, headers=headers)
    tampered = client.post(
        "/webhooks",
        data=body + b" ",
        headers=fake.webhook("orders/create", shop.domain, one_order(), TEST_API_SECRET)[1],
    )
    missing = client.post(
        "/webhooks", data=body, headers={k: v for k, v in headers.items() if "Hmac" not in k}
    )
    run_jobs()
    assert [response.status_code, tampered.status_code, missing.status_code] == [401, 401, 401]
    assert response.data == b""
    with app.app_context():
        assert count(WebhookDelivery) == 0 and count(OrderLineItem) == 0


def test_old_secret_is_accepted_during_rotation(app, client, fake, shop, run_jobs):
    order = one_order()
    response = post(client, fake, "orders/create", shop.domain, order, secret=TEST_API_SECRET_OLD)
    run_jobs()
    assert response.status_code == 200
    with app.app_context():
        assert count(OrderLineItem, shop.id) == len(order["line_items"])


def test_redelivery_is_acknowledged_and_does_nothing(app, client, fake, shop, run_jobs, no_training):
    order = one_order()
    first = post(client, fake, "orders/create", shop.domain, order, webhook_id="wh-1")
    second = post(client, fake, "orders/create", shop.domain, order, webhook_id="wh-1")
    run_jobs()
    assert (first.status_code, first.json["status"]) == (200, "queued")
    assert (second.status_code, second.json["status"]) == (200, "duplicate")
    with app.app_context():
        delivery = db.session.scalar(sa.select(WebhookDelivery))
        assert count(WebhookDelivery) == 1 and delivery.status == "processed" and delivery.processed_at
        assert count(OrderLineItem, shop.id) == len(order["line_items"])
    assert no_training == [shop.id]  # a new order asks for a (debounced) retrain


def test_a_lost_dedupe_row_only_means_the_redelivery_is_applied_again(app, client, fake, shop, run_jobs):
    """The delivery row only dedupes: with it gone (a restore from an older backup, say), a
    redelivery is queued and applied again, and converges to the same rows. (With Redis, the
    inbox's seen keys dedupe too, and go with a restore of Redis.)"""
    order = one_order()

    def deliver_and_apply() -> list:
        response = post(client, fake, "orders/create", shop.domain, order, webhook_id="wh-1")
        assert response.json["status"] == "queued"
        run_jobs()
        with app.app_context():
            return sorted(
                db.session.execute(sa.select(OrderLineItem.line_item_id, OrderLineItem.quantity)).all()
            )

    before = deliver_and_apply()
    with app.app_context():
        db.session.execute(sa.delete(WebhookDelivery))  # the row a crash forgot
        db.session.commit()
        if (redis := get_redis()) is not None:
            redis.delete(*redis.keys("posai:webhooks:seen:*"))
    after = deliver_and_apply()
    assert after == before and len(after) == len(order["line_items"])


def test_unknown_topic_and_unknown_shop_get_200(app, client, fake, shop):
    assert post(client, fake, "carts/update", shop.domain, {"id": 1}).json == {"status": "ignored"}
    assert post(client, fake, "orders/create", "nobody.myshopify.com", one_order()).json == {
        "status": "unknown_shop"
    }
    with app.app_context():
        assert count(WebhookDelivery) == 0


def test_malformed_body_is_a_json_4xx(client, fake, shop):
    body, headers = fake.webhook("orders/create", shop.domain, {}, TEST_API_SECRET)
    body = b"{not json"
    headers["X-Shopify-Hmac-Sha256"] = __import__("posai_app.webhooks.verify", fromlist=["x"]).compute_hmac(
        TEST_API_SECRET, body
    )
    response = client.post("/webhooks", data=body, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"


def test_webhook_is_answered_within_a_second(client, fake, shop):
    first = next(shopify_shape.iter_order_payloads())
    big = examples.order_from_shape(
        dict(
            first,
            line_items=[
                dict(first["line_items"][0], id=first["line_items"][0]["id"] + i) for i in range(1000)
            ],
        )
    )
    started = time.perf_counter()
    response = post(client, fake, "orders/create", shop.domain, big)
    assert response.status_code == 200
    assert time.perf_counter() - started < 1.0


def test_handled_topics_cover_the_issue():
    assert set(HANDLED_TOPICS) == {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/delete",
        "products/create",
        "products/update",
        "products/delete",
        "inventory_levels/update",
        "inventory_items/create",
        "inventory_items/update",
        "app/uninstalled",
        "bulk_operations/finish",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
    }


# ---------------------------------------------------------------- convergence


def _events():
    """A realistic stream of events, in the order Shopify produced them."""
    products, orders = dataset.small_history(6)
    products = products[:8]
    events = [("products/create", examples.product_from_shape(p)) for p in products]
    repriced = copy.deepcopy(products[0])
    repriced["updated_at"] = "2012-01-01T10:00:00Z"
    repriced["title"] = "Renamed"
    repriced["variants"][0]["price"] = "9.99"
    repriced["variants"][0]["updated_at"] = "2012-01-01T10:00:00Z"
    events.append(("products/update", examples.product_from_shape(repriced, "products/update")))
    events.append(("products/delete", examples.deleted("products/delete", products[1]["id"])))
    events += [("orders/create", examples.order_from_shape(o)) for o in orders]
    edited = copy.deepcopy(orders[0])
    edited["updated_at"] = "2012-02-01T00:00:00Z"
    edited["line_items"] = edited["line_items"][1:]  # a line item removed by an order edit
    edited["line_items"][0]["quantity"] += 5
    events.append(("orders/updated", examples.order_from_shape(edited, "orders/updated")))
    paid = copy.deepcopy(orders[1])
    paid["updated_at"] = "2012-02-01T00:00:00Z"
    events.append(("orders/updated", examples.order_from_shape(paid, "orders/updated")))
    cancelled = copy.deepcopy(paid)
    cancelled["updated_at"] = "2012-02-02T00:00:00Z"
    cancelled["cancelled_at"] = "2012-02-02T00:00:00Z"
    events.append(("orders/cancelled", examples.order_from_shape(cancelled, "orders/cancelled")))
    late_update = copy.deepcopy(orders[2])
    late_update["updated_at"] = "2012-03-01T00:00:00Z"
    events.append(("orders/updated", examples.order_from_shape(late_update, "orders/updated")))
    events.append(("orders/delete", examples.deleted("orders/delete", orders[2]["id"])))
    return [(topic, payload, f"evt-{i}") for i, (topic, payload) in enumerate(events)]


def _snapshot(shop_id):
    items = db.session.execute(
        sa.select(
            OrderLineItem.line_item_id,
            OrderLineItem.order_id,
            OrderLineItem.quantity,
            OrderLineItem.price,
            OrderLineItem.cancelled_at,
            OrderLineItem.shopify_updated_at,
        )
        .where(OrderLineItem.shop_id == shop_id)
        .order_by(OrderLineItem.line_item_id)
    ).all()
    variants = db.session.execute(
        sa.select(
            ProductVariant.variant_id,
            ProductVariant.product_title,
            ProductVariant.price,
            ProductVariant.deleted_at.is_(None),
            ProductVariant.is_gift_card,
        )
        .where(ProductVariant.shop_id == shop_id)
        .order_by(ProductVariant.variant_id)
    ).all()
    return [tuple(r) for r in items], [tuple(r) for r in variants]


def test_shuffled_duplicated_deliveries_end_like_one_ordered_delivery(
    app, client, fake, shop, other_shop, run_jobs
):
    events = _events()
    for topic, payload, event_id in events:
        assert post(client, fake, topic, shop.domain, payload, webhook_id=f"a-{event_id}").status_code == 200
    run_jobs()
    # Each event twice under its id (a redelivery) and once under a new id (a second subscription).
    noisy = [(t, p, f"b-{e}") for t, p, e in events] * 2 + [(t, p, f"c-{e}") for t, p, e in events]
    random.Random(20261128).shuffle(noisy)
    for topic, payload, webhook_id in noisy:
        assert post(client, fake, topic, other_shop.domain, payload, webhook_id=webhook_id).status_code == 200
    run_jobs()
    with app.app_context():
        ordered, shuffled = _snapshot(shop.id), _snapshot(other_shop.id)
        assert count(WebhookDelivery, other_shop.id) == 2 * len(events)
    assert ordered == shuffled
    items, variants = ordered
    deleted_order = events[-1][1]["id"]
    assert all(order_id != deleted_order for _, order_id, *_ in items)
    assert any(price == 9.99 or str(price) == "9.99" for _, _, price, *_ in variants)
    assert sum(1 for v in variants if v[3] is False) == 1  # the deleted product's variant


# ---------------------------------------------------------------- compliance and lifecycle


def _seed_orders(client, fake, shop, run_jobs, n=3):
    orders = list(dataset.small_history(n)[1])
    for order in orders:
        post(client, fake, "orders/create", shop.domain, examples.order_from_shape(order))
    run_jobs()
    return orders


def test_shop_redact_deletes_everything_of_that_shop_only(app, client, fake, shop, other_shop, run_jobs):
    _seed_orders(client, fake, shop, run_jobs)
    _seed_orders(client, fake, other_shop, run_jobs)
    payload = examples.privacy("shop/redact", shop.domain)
    assert post(client, fake, "shop/redact", shop.domain, payload).status_code == 200
    run_jobs()
    with app.app_context():
        assert db.session.get(Shop, shop.id) is None
        assert count(OrderLineItem, shop.id) == 0 and count(WebhookDelivery, shop.id) == 0
        assert count(OrderLineItem, other_shop.id) > 0


def test_app_uninstalled_removes_the_shops_data(app, client, fake, shop, other_shop, run_jobs):
    _seed_orders(client, fake, shop, run_jobs)
    _seed_orders(client, fake, other_shop, run_jobs)
    payload = examples.example("app/uninstalled")
    assert post(client, fake, "app/uninstalled", shop.domain, payload).status_code == 200
    run_jobs()
    with app.app_context():
        assert count(OrderLineItem, shop.id) == 0
        remaining = db.session.get(Shop, shop.id)
        assert remaining is None or (remaining.uninstalled_at is not None and remaining.access_token is None)
        assert count(OrderLineItem, other_shop.id) > 0


def test_customers_redact_removes_listed_orders_for_good(app, client, fake, shop, run_jobs):
    orders = _seed_orders(client, fake, shop, run_jobs)
    redacted = orders[0]
    payload = examples.privacy("customers/redact", shop.domain, orders_to_redact=[redacted["id"]])
    assert post(client, fake, "customers/redact", shop.domain, payload).status_code == 200
    late = copy.deepcopy(redacted)
    late["updated_at"] = "2030-01-01T00:00:00Z"
    post(client, fake, "orders/updated", shop.domain, examples.order_from_shape(late, "orders/updated"))
    run_jobs()
    with app.app_context():
        ids = set(
            db.session.scalars(sa.select(OrderLineItem.order_id).where(OrderLineItem.shop_id == shop.id))
        )
    assert redacted["id"] not in ids and {o["id"] for o in orders[1:]} <= ids


def test_customers_data_request_is_logged_and_acknowledged(app, client, fake, shop, run_jobs, caplog):
    payload = examples.privacy("customers/data_request", shop.domain)
    with caplog.at_level("INFO"):
        assert post(client, fake, "customers/data_request", shop.domain, payload).status_code == 200
        run_jobs()
    assert "stores no customer data" in caplog.text


def test_inventory_level_update_reads_the_variants_total(app, client, fake, shop, run_jobs):
    products, _ = dataset.small_history(1)
    product = copy.deepcopy(products[0])
    post(client, fake, "products/create", shop.domain, examples.product_from_shape(product))
    run_jobs()
    variant = product["variants"][0]
    product["variants"][0] = dict(variant, inventory_quantity=3)
    fake.add_shop(shop.domain, shop.access_token, products=[product])
    payload = examples.inventory_level(variant["inventory_item_id"], available=1)
    assert post(client, fake, "inventory_levels/update", shop.domain, payload).status_code == 200
    run_jobs()
    with app.app_context():
        stored = db.session.scalar(sa.select(ProductVariant.inventory_quantity))
        levels = db.session.execute(
            sa.select(InventoryLevel.inventory_item_id, InventoryLevel.location_id, InventoryLevel.available)
        ).all()
        locations = db.session.scalars(sa.select(ShopLocation.location_id)).all()
    assert stored == 3
    # The delivery's own level, at its location_id, is kept for the POS location's stock rule.
    assert [tuple(r) for r in levels] == [(variant["inventory_item_id"], payload["location_id"], 1)]
    assert locations == [payload["location_id"]]


def test_an_older_level_delivery_does_not_overwrite_a_newer_one(app, client, fake, shop, run_jobs):
    fake.add_shop(shop.domain, shop.access_token)
    newer = examples.inventory_level(424242, available=7)
    newer["updated_at"] = "2031-01-02T00:00:00-05:00"
    older = examples.inventory_level(424242, available=2)
    older["updated_at"] = "2031-01-01T00:00:00-05:00"
    for payload in (newer, older):
        assert post(client, fake, "inventory_levels/update", shop.domain, payload).status_code == 200
        run_jobs()
    with app.app_context():
        assert db.session.scalar(sa.select(InventoryLevel.available)) == 7


def test_delivery_over_a_real_socket_is_verified_and_applied(app, fake, shop, run_jobs):
    """The fake signs and POSTs exactly as Shopify does; the app answers over HTTP within a second."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        order = one_order()
        url = f"http://127.0.0.1:{server.server_port}/webhooks"
        started = time.perf_counter()
        response = fake.deliver(url, "orders/create", shop.domain, order, TEST_API_SECRET)
        elapsed = time.perf_counter() - started
        forged = fake.deliver(url, "orders/create", shop.domain, order, "forged-secret-" * 3)
    finally:
        server.shutdown()
    run_jobs()
    assert response.status_code == 200 and elapsed < 1.0
    assert forged.status_code == 401
    with app.app_context():
        assert count(OrderLineItem, shop.id) == len(order["line_items"])
        assert count(WebhookDelivery, shop.id) == 1

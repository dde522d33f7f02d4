"""Hostile or broken webhook bodies (issue: hardening): a clear 4xx, or stored safely; never a
500, a webhook that can never be queued, or a batch lost to one bad value."""

from __future__ import annotations

import copy
import json

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest.orders import upsert_orders
from posai_app.models import OrderLineItem, WebhookDelivery
from posai_app.webhooks import handlers
from tests.fakeshopify.server import webhook_headers
from tests.helpers import TEST_API_SECRET
from tests.webhooks import examples


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


def _order(order_id: int, *, title: str = "Lunch bag", quantity: int = 1, line_id: int | None = None) -> dict:
    return examples.order(
        "orders/create",
        order_id,
        [
            {
                "id": line_id or order_id * 10,
                "variant_id": 7001,
                "product_id": 701,
                "title": title,
                "quantity": quantity,
            }
        ],
        name=f"#{order_id}",
        created_at="2026-11-01T10:00:00Z",
        updated_at="2026-11-01T10:00:00Z",
    )


def _post_raw(client, fake, shop, topic: str, body: bytes):
    return client.post(
        "/webhooks", data=body, headers=webhook_headers(topic, shop.domain, body, TEST_API_SECRET)
    )


def _line_items(shop_id: int) -> list[tuple]:
    return db.session.execute(
        sa.select(OrderLineItem.order_id, OrderLineItem.title, OrderLineItem.quantity)
        .where(OrderLineItem.shop_id == shop_id)
        .order_by(OrderLineItem.order_id)
    ).all()


@pytest.mark.parametrize("depth", [500, 5000])
def test_a_deeply_nested_payload_is_a_bad_request_not_a_503(app, client, fake, shop, run_jobs, depth):
    payload = _order(1)
    body = json.dumps(payload).encode()
    body = body[:-1] + b', "note_attributes": ' + b"[" * depth + b"]" * depth + b"}"
    response = _post_raw(client, fake, shop, "orders/create", body)
    assert response.status_code == 400
    assert "levels deep" in response.json["error"]["message"]
    run_jobs()
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


def test_a_body_that_is_not_an_object_is_a_bad_request(client, fake, shop):
    response = _post_raw(client, fake, shop, "orders/create", b"[1, 2, 3]")
    assert response.status_code == 400


def test_a_nul_in_a_title_is_removed_and_the_order_kept(app, client, fake, shop, run_jobs):
    body, headers = fake.webhook(
        "orders/create", shop.domain, _order(1, title="Lunch\x00 bag"), TEST_API_SECRET
    )
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    run_jobs()
    with app.app_context():
        assert _line_items(shop.id) == [(1, "Lunch bag", 1)]


def test_a_nul_in_one_order_does_not_fail_the_others_of_its_batch(app, shop):
    from posai_app.ingest import parse

    orders = [
        parse.order_from_rest(_order(i, title="ok" if i != 2 else "bad\x00\x07title")) for i in (1, 2, 3)
    ]
    with app.app_context():
        upsert_orders(shop.id, orders)
        db.session.commit()
        assert _line_items(shop.id) == [(1, "ok", 1), (2, "badtitle", 1), (3, "ok", 1)]


def test_negative_quantities_are_not_purchases(app, client, fake, shop, run_jobs):
    body, headers = fake.webhook("orders/create", shop.domain, _order(1, quantity=-3), TEST_API_SECRET)
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    run_jobs()
    with app.app_context():
        assert _line_items(shop.id) == []


@pytest.mark.parametrize(
    "orders_to_redact, left",
    [("123", [1, 2, 3]), (123, [1, 2, 3]), (["2", 3, "x", None], [1, 123]), ({"id": 1}, [1, 2, 3, 123])],
)
def test_customers_redact_takes_only_order_ids(app, client, fake, shop, run_jobs, orders_to_redact, left):
    for order_id in (1, 2, 3, 123):
        body, headers = fake.webhook("orders/create", shop.domain, _order(order_id), TEST_API_SECRET)
        assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    payload = examples.privacy("customers/redact", shop.domain, orders_to_redact=orders_to_redact)
    body, headers = fake.webhook("customers/redact", shop.domain, payload, TEST_API_SECRET)
    assert client.post("/webhooks", data=body, headers=headers).status_code == 200
    run_jobs()
    with app.app_context():
        assert [row[0] for row in _line_items(shop.id)] == left


def test_a_stale_create_does_not_resurrect_an_order_emptied_later(app, client, fake, shop, run_jobs):
    created = _order(1)  # T0, two units of one item
    emptied = copy.deepcopy(created)
    emptied.update(updated_at="2026-11-02T10:00:00Z")  # T2: every item refunded or edited out
    for item in emptied["line_items"]:
        item["current_quantity"] = 0
    for topic, payload in (
        ("orders/create", created),
        ("orders/updated", emptied),
        ("orders/create", created),
    ):
        body, headers = fake.webhook(topic, shop.domain, payload, TEST_API_SECRET)
        assert client.post("/webhooks", data=body, headers=headers).status_code == 200
        run_jobs()
    with app.app_context():
        assert _line_items(shop.id) == []


def test_the_upgrade_gives_every_stored_order_its_version(tmp_path):
    """An existing database (orders in the 0003 shape) upgrades with each order's version kept."""
    from flask_migrate import downgrade, upgrade

    from posai_app import create_app
    from posai_app.models import OrderVersion, Shop
    from tests.helpers import TEST_SETTINGS

    fresh = create_app({**TEST_SETTINGS, "DATABASE_URL": f"sqlite:///{tmp_path}/old.db", "REDIS_URL": None})
    with fresh.app_context():
        upgrade(revision="0003_ingest_tombstones")
        db.session.execute(sa.insert(Shop.__table__).values(id=1, domain="old.myshopify.com", settings={}))
        for line_id, order_id, at in (
            (1, 10, "2026-01-01 10:00:00"),
            (2, 10, "2026-01-02 10:00:00"),
            (3, 11, None),
        ):
            db.session.execute(
                sa.text(
                    "INSERT INTO order_line_items (shop_id, line_item_id, order_id, created_at, title, "
                    "quantity, is_custom_sale, shopify_updated_at) "
                    "VALUES (1, :l, :o, '2026-01-01 09:00:00', 't', 1, 0, :at)"
                ),
                {"l": line_id, "o": order_id, "at": at},
            )
        db.session.commit()
        upgrade()
        versions = db.session.execute(
            sa.select(OrderVersion.order_id, OrderVersion.shopify_updated_at).order_by(OrderVersion.order_id)
        ).all()
        assert [(o, at is not None and at.replace(tzinfo=None).isoformat()) for o, at in versions] == [
            (10, "2026-01-02T10:00:00"),
            (11, False),
        ]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OrderLineItem)) == 3
        downgrade(revision="0003_ingest_tombstones")
        db.engine.dispose()

"""Shopify's own example payloads, for every topic the app handles, through the real POST /webhooks.

Each case posts the package's example (adapted only where it must name the test shop's data:
ids of rows it refers to, the shop's domain) with a correct HMAC, drains the queue and checks
what is stored. The examples' numeric ids were rounded by JavaScript (`"id": 788032119674292900`
beside `"gid://shopify/Product/788032119674292922"`); the app must store the GID's exact id.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import parse
from posai_app.ingest import sync as jobs
from posai_app.ingest.products import upsert_products
from posai_app.ingest.sync_state import get_sync_state
from posai_app.models import OrderLineItem, ProductVariant, Shop, ShopifyTombstone, WebhookDelivery
from posai_app.webhooks import handlers
from posai_app.webhooks.handlers import HANDLED_TOPICS
from tests.helpers import TEST_API_SECRET
from tests.webhooks import examples

PRODUCT_ID = 788032119674292922  # the examples' product GID
VARIANT_IDS = (642667041472713922, 757650484644203962)
ORDER_ID = 820982911946154508
INVENTORY_ITEM_ID = 271878346596884015  # inventory_items/update's and inventory_levels/update's GIDs


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


@pytest.fixture
def deliver(app, client, fake, shop, run_jobs):
    """deliver(topic, payload) to the test shop -> the endpoint's JSON answer, after the job ran."""

    def _deliver(topic: str, payload: dict) -> dict:
        examples.check_shape(topic, payload)  # adapted values only: Shopify's fields, no others
        body, headers = fake.webhook(topic, shop.domain, payload, TEST_API_SECRET)
        response = client.post("/webhooks", data=body, headers=headers)
        assert response.status_code == 200, response.data
        run_jobs()
        return response.json

    return _deliver


def line_item_ids(topic: str) -> set[int]:
    """The exact ids of the example order's line items (their GIDs; the plain ids are rounded)."""
    return {int(li["admin_graphql_api_id"].rsplit("/", 1)[1]) for li in examples.example(topic)["line_items"]}


def variants(shop_id: int) -> dict[int, ProductVariant]:
    rows = db.session.scalars(sa.select(ProductVariant).where(ProductVariant.shop_id == shop_id))
    return {row.variant_id: row for row in rows}


def line_items(shop_id: int) -> list[OrderLineItem]:
    return list(db.session.scalars(sa.select(OrderLineItem).where(OrderLineItem.shop_id == shop_id)))


def tombstoned(shop_id: int, resource: str) -> set[int]:
    query = sa.select(ShopifyTombstone.resource_id).where(
        ShopifyTombstone.shop_id == shop_id, ShopifyTombstone.resource == resource
    )
    return set(db.session.scalars(query))


def store_example_product_as_synced(
    shop_id: int, *, tracked: bool, inventory_item_id: int | None = None
) -> None:
    """The example's product as a sync (GraphQL) stored it, a day before the example's updated_at."""
    nodes = [
        {
            "id": examples.gid("ProductVariant", variant_id),
            "title": "Small" if i == 0 else "Medium",
            "price": "18.00",
            "sku": f"TEE-{i}",
            "inventoryQuantity": 3,
            "inventoryPolicy": "DENY",
            "updatedAt": "2021-12-29T00:00:00Z",
            "inventoryItem": {
                "id": examples.gid("InventoryItem", inventory_item_id + i if inventory_item_id else 9000 + i),
                "tracked": tracked,
            },
        }
        for i, variant_id in enumerate(VARIANT_IDS)
    ]
    node = {
        "id": examples.gid("Product", PRODUCT_ID),
        "title": "Tee",
        "status": "ACTIVE",
        "isGiftCard": False,
    }
    node["updatedAt"] = "2021-12-29T00:00:00Z"
    upsert_products(shop_id, [parse.product_from_graphql(node, nodes)])
    db.session.commit()


# topic -> check(topic, t); t has app, shop, deliver, fake, monkeypatch, caplog
CASES: dict[str, Callable] = {}


def case(*topics: str):
    def register(check: Callable) -> Callable:
        for topic in topics:
            CASES[topic] = check
        return check

    return register


@case("products/create", "products/update")
def _product(topic, t):
    if topic == "products/update":
        with t.app.app_context():
            store_example_product_as_synced(t.shop.id, tracked=True)
    assert t.deliver(topic, examples.example(topic))["status"] == "queued"
    with t.app.app_context():
        stored = variants(t.shop.id)
    assert set(stored) == set(VARIANT_IDS)
    small, medium = stored[VARIANT_IDS[0]], stored[VARIANT_IDS[1]]
    assert {v.product_id for v in stored.values()} == {PRODUCT_ID}
    assert (small.product_title, small.variant_title, small.price) == (
        "Example T-Shirt",
        "Small",
        Decimal("19.99"),
    )
    assert (small.inventory_quantity, medium.inventory_quantity) == (75, 50)
    assert small.inventory_policy == "deny" and small.status == "active" and small.sku is None
    if topic == "products/update":
        # The payload says nothing about tracking or the inventory item (null): the sync's values stay.
        assert small.inventory_tracked is True and small.inventory_item_id == 9000
    else:
        assert small.inventory_tracked is False and small.inventory_item_id is None


@case("products/delete")
def _product_deleted(topic, t):
    with t.app.app_context():
        store_example_product_as_synced(t.shop.id, tracked=True)
    t.deliver(topic, examples.deleted(topic, PRODUCT_ID))
    with t.app.app_context():
        assert all(v.deleted_at is not None for v in variants(t.shop.id).values())
        assert tombstoned(t.shop.id, "product") == {PRODUCT_ID}


@case("orders/create", "orders/updated", "orders/cancelled")
def _order(topic, t):
    t.deliver(topic, examples.example(topic))
    with t.app.app_context():
        items = line_items(t.shop.id)
    assert {i.line_item_id for i in items} == line_item_ids(topic)
    assert {(i.order_id, i.order_name, i.order_number, i.currency) for i in items} == {
        (ORDER_ID, "#9999", 1234, "USD")
    }
    aviator = next(i for i in items if i.line_item_id == 487817672276298554)
    assert (aviator.title, aviator.quantity, aviator.price, aviator.sku) == (
        "Aviator sunglasses",
        1,
        Decimal("89.99"),
        "SKU2006-001",
    )
    assert aviator.is_custom_sale is True  # the example's line items name no variant
    assert all(i.cancelled_at is not None for i in items)  # the examples are cancelled orders


@case("orders/delete")
def _order_deleted(topic, t):
    t.deliver("orders/create", examples.example("orders/create"))
    t.deliver(topic, examples.deleted(topic, ORDER_ID))
    with t.app.app_context():
        assert line_items(t.shop.id) == [] and tombstoned(t.shop.id, "order") == {ORDER_ID}


@case("inventory_levels/update")
def _inventory_level(topic, t):
    with t.app.app_context():
        store_example_product_as_synced(t.shop.id, tracked=True, inventory_item_id=INVENTORY_ITEM_ID)
    # Shopify's answer to InventoryItemVariant: the variant's total over all locations.
    rest = {"id": PRODUCT_ID, "variants": [{"id": VARIANT_IDS[0], "inventory_item_id": INVENTORY_ITEM_ID}]}
    rest["variants"][0].update(inventory_quantity=41, inventory_management="shopify")
    t.fake.add_shop(t.shop.domain, t.shop.access_token, products=[rest])
    payload = examples.example(topic)  # unchanged: its GID names the exact inventory item
    assert payload["inventory_item_id"] != INVENTORY_ITEM_ID  # (the plain field was rounded)
    t.deliver(topic, payload)
    with t.app.app_context():
        assert variants(t.shop.id)[VARIANT_IDS[0]].inventory_quantity == 41


@case("inventory_items/create", "inventory_items/update")
def _inventory_item(topic, t):
    with t.app.app_context():
        store_example_product_as_synced(t.shop.id, tracked=False, inventory_item_id=INVENTORY_ITEM_ID)
    payload = examples.example(topic)  # unchanged: tracked true, item named by its GID
    assert payload["tracked"] is True and payload["id"] != INVENTORY_ITEM_ID
    t.deliver(topic, payload)
    with t.app.app_context():
        stored = variants(t.shop.id)
        delivery = db.session.scalar(sa.select(WebhookDelivery).where(WebhookDelivery.shop_id == t.shop.id))
    assert stored[VARIANT_IDS[0]].inventory_tracked is True
    assert stored[VARIANT_IDS[1]].inventory_tracked is False  # another inventory item
    assert delivery is None or delivery.status == "processed"


@case("app/uninstalled")
def _uninstalled(topic, t):
    t.deliver("orders/create", examples.example("orders/create"))
    t.deliver(topic, examples.example(topic))  # the shop comes from the header, not the body
    with t.app.app_context():
        remaining = db.session.get(Shop, t.shop.id)
        assert line_items(t.shop.id) == []
    assert remaining is None or (remaining.uninstalled_at is not None and remaining.access_token is None)


@case("bulk_operations/finish")
def _bulk_finish(topic, t):
    calls = []
    t.monkeypatch.setattr(jobs, "enqueue", lambda *a, **k: calls.append(a))
    payload = examples.example(topic)
    with t.app.app_context():
        state = get_sync_state(t.shop.id, "products")
        state.bulk_operation_id, state.status = payload["admin_graphql_api_id"], "running"
        db.session.commit()
    t.deliver(topic, payload)
    assert calls == [("ingest", "posai_app.ingest.sync.sync_shop", t.shop.id)]


@case("customers/data_request")
def _data_request(topic, t):
    with t.caplog.at_level("INFO"):
        t.deliver(topic, examples.privacy(topic, t.shop.domain))
    assert "stores no customer data" in t.caplog.text
    assert "9999" in t.caplog.text  # the example's data_request id


@case("customers/redact")
def _customers_redact(topic, t):
    t.deliver("orders/create", examples.example("orders/create"))
    t.deliver(topic, examples.privacy(topic, t.shop.domain, orders_to_redact=[ORDER_ID]))
    with t.app.app_context():
        assert line_items(t.shop.id) == [] and tombstoned(t.shop.id, "order") == {ORDER_ID}


@case("shop/redact")
def _shop_redact(topic, t):
    t.deliver("orders/create", examples.example("orders/create"))
    t.deliver(topic, examples.privacy(topic, t.shop.domain))
    with t.app.app_context():
        assert db.session.get(Shop, t.shop.id) is None and line_items(t.shop.id) == []


def test_every_handled_topic_has_a_contract_case():
    assert set(CASES) == set(HANDLED_TOPICS)


@pytest.mark.parametrize("topic", sorted(CASES))
def test_shopifys_example_payload_is_stored_as_expected(
    topic,
    app,
    shop,
    deliver,
    fake,
    monkeypatch,
    caplog,
):
    CASES[topic](
        topic,
        SimpleNamespace(
            app=app, shop=shop, deliver=deliver, fake=fake, monkeypatch=monkeypatch, caplog=caplog
        ),
    )


def test_parser_takes_exact_ids_from_gids():
    product = parse.product_from_rest(examples.example("products/update"))
    assert product["product_id"] == PRODUCT_ID
    assert [v["variant_id"] for v in product["variants"]] == list(VARIANT_IDS)
    assert product["variant_ids"] == [VARIANT_IDS[1], VARIANT_IDS[0]]  # from variant_gids
    partial = dict(examples.example("products/update"), variant_gids=[])
    assert parse.product_from_rest(partial)["variant_ids"] == list(VARIANT_IDS)  # sent ones count
    order = parse.order_from_rest(examples.example("orders/create"))
    assert order["order_id"] == ORDER_ID
    assert {li["line_item_id"] for li in order["line_items"]} == line_item_ids("orders/create")
    assert 487817672276298554 in line_item_ids("orders/create")  # sent as 487817672276298560
    assert parse.inventory_item_from_rest(examples.example("inventory_items/update"))[
        "inventory_item_id"
    ] == (INVENTORY_ITEM_ID)
    assert (
        parse.inventory_item_id_from_level(examples.example("inventory_levels/update")) == INVENTORY_ITEM_ID
    )
    # Without a GID (products/delete, orders/delete, REST ids) the plain id is taken as sent.
    assert parse.rest_id({"id": 42}, "Product") == 42
    assert parse.rest_id({"id": 42, "admin_graphql_api_id": "gid://shopify/Order/7"}, "Product") == 42

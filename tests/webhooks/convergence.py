"""Generated delivery sets for the convergence properties (tests/webhooks/test_convergence.py).

A "history" is what Shopify did to a few orders and products, version by version, each
version a delivery built from Shopify's own example payload for its topic (tests/webhooks/
examples.py) with strictly increasing `updated_at` (written in varying UTC offsets). The
deliveries' Shopify order is their time order; deletions and redactions come last.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import hypothesis.strategies as st
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import OrderLineItem, OrderVersion, ProductVariant, ShopifyTombstone
from posai_app.tenancy import of_shop
from posai_app.webhooks import handlers
from tests.webhooks import examples

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_ZONES = (timezone.utc, timezone(timedelta(hours=-5)), timezone(timedelta(hours=2)))  # noqa: UP017
ORDER_IDS = (5_512_000_001_001, 5_512_000_001_002)
PRODUCT_IDS = (8_840_000_000_101, 8_840_000_000_102)
ITEM_OFFSET = 1_000_000  # a variant's inventory item id is its variant id + this


def stamp(minutes: int, zone: int) -> str:
    """An ISO-8601 time `minutes` after T0, written in one of three UTC offsets (as Shopify varies)."""
    text = (T0 + timedelta(minutes=minutes)).astimezone(_ZONES[zone]).isoformat()
    return text.replace("+00:00", "Z") if zone == 0 else text


@dataclass(order=True)
class Delivery:
    """One webhook delivery; `at` (minutes after T0, then a tie-breaker) is its place in Shopify's order."""

    at: tuple[int, int]
    topic: str = field(compare=False)
    payload: dict = field(compare=False, repr=False)


# ---------------------------------------------------------------- orders

_ORDER_STEPS = ("quantity", "add", "remove", "remove_as_zero", "partial_refund", "full_refund", "cancel")


@st.composite
def order_history(draw, order_id: int, serial: int) -> list[Delivery]:
    """orders/create, then edits, refunds (current_quantity) and a cancellation, then maybe a deletion."""
    next_line = iter(range(order_id * 10, order_id * 10 + 100))
    variants = st.sampled_from([7_001, 7_002, 7_003, 7_004])

    def new_item() -> dict[str, Any]:
        variant = draw(variants)
        quantity = draw(st.integers(1, 4))
        return {
            "id": next(next_line),
            "variant_id": variant,
            "product_id": variant // 10,
            "title": f"Item {variant}",
            "quantity": quantity,
            "current_quantity": quantity,
            "price": draw(st.sampled_from(["2.50", "10.00", "0.99"])),
            "sku": f"SKU-{variant}",
        }

    items = [new_item() for _ in range(draw(st.integers(1, 3)))]
    created = draw(st.integers(0, 30))
    created_at = stamp(created, 0)
    minute, cancelled_at = created, None
    deliveries: list[Delivery] = []

    def emit(topic: str) -> None:
        payload = examples.order(
            topic,
            order_id,
            copy.deepcopy(items),
            name=f"#{1000 + serial}",
            created_at=created_at,
            updated_at=stamp(minute, draw(st.integers(0, 2))),
            cancelled_at=cancelled_at,
        )
        deliveries.append(Delivery((minute, serial), topic, payload))

    emit("orders/create")
    for step in draw(st.lists(st.sampled_from(_ORDER_STEPS), max_size=4)):
        minute += draw(st.integers(1, 120))
        live = [i for i in items if i["current_quantity"] > 0]
        topic = "orders/updated"
        if step == "add":
            items.append(new_item())
        elif step == "quantity" and live:
            item = draw(st.sampled_from(live))
            item["quantity"] = item["current_quantity"] = draw(st.integers(1, 6))
        elif step == "remove" and len(items) > 1:
            items.remove(draw(st.sampled_from(items)))  # an edit that drops the line item
        elif step == "remove_as_zero" and live:
            draw(st.sampled_from(live))["current_quantity"] = 0  # an edit that zeroes it
        elif step == "partial_refund" and live:
            item = draw(st.sampled_from(live))
            item["current_quantity"] = draw(st.integers(0, item["current_quantity"] - 1))
        elif step == "full_refund":
            for item in items:
                item["current_quantity"] = 0
        elif step == "cancel" and cancelled_at is None:
            cancelled_at = stamp(minute, 0)
            topic = draw(st.sampled_from(["orders/updated", "orders/cancelled"]))
        emit(topic)
    if draw(st.booleans()) and draw(st.booleans()):
        deliveries.append(
            Delivery((10_000, serial), "orders/delete", examples.deleted("orders/delete", order_id))
        )
    return deliveries


@st.composite
def order_deliveries(draw) -> list[Delivery]:
    """Two orders' histories, interleaved; maybe a customers/redact naming one of them (and an unknown id)."""
    deliveries = [d for serial, oid in enumerate(ORDER_IDS) for d in draw(order_history(oid, serial))]
    if draw(st.booleans()):
        redacted = [draw(st.sampled_from(ORDER_IDS)), 5_512_999_999_999]
        payload = examples.privacy("customers/redact", "alpha-shop.myshopify.com", orders_to_redact=redacted)
        deliveries.append(Delivery((20_000, 0), "customers/redact", payload))
    return deliveries


# ---------------------------------------------------------------- products and inventory items

_PRODUCT_STEPS = ("retitle", "reprice", "restock", "add_variant", "remove_variant", "status")


@st.composite
def product_history(draw, product_id: int, serial: int) -> list[Delivery]:
    """products/create, then updates (title, price, stock, variants added/removed, status), maybe a delete;
    inventory_items/create|update toggling `tracked` for its variants at their own times."""
    next_variant = iter(range(product_id * 10, product_id * 10 + 50))
    minute = draw(st.integers(0, 30))

    def new_variant() -> dict[str, Any]:
        variant_id = next(next_variant)
        return {
            "id": variant_id,
            "title": f"Size {variant_id % 10}",
            "price": draw(st.sampled_from(["19.99", "5.00", "12.50"])),
            "sku": f"SKU-{variant_id}",
            "inventory_item_id": variant_id + ITEM_OFFSET,
            "inventory_quantity": draw(st.integers(0, 20)),
            "inventory_policy": "deny",
            "updated_at": stamp(minute, 0),
        }

    variants = [new_variant() for _ in range(draw(st.integers(1, 3)))]
    ever = list(variants)
    title, status = f"Product {product_id}", "active"
    deliveries: list[Delivery] = []

    def emit(topic: str) -> None:
        payload = examples.product(
            topic,
            product_id,
            copy.deepcopy(variants),
            title=title,
            status=status,
            updated_at=stamp(minute, draw(st.integers(0, 2))),
        )
        deliveries.append(Delivery((minute, 10 + serial), topic, payload))

    emit("products/create")
    for step in draw(st.lists(st.sampled_from(_PRODUCT_STEPS), max_size=4)):
        minute += draw(st.integers(1, 120))
        touched = draw(st.sampled_from(variants))
        if step == "retitle":
            title = f"Product {product_id} v{minute}"
        elif step == "reprice":
            touched["price"] = f"{draw(st.integers(1, 99))}.00"
        elif step == "restock":
            touched["inventory_quantity"] = draw(st.integers(0, 20))
        elif step == "add_variant":
            touched = new_variant()
            variants.append(touched)
            ever.append(touched)
        elif step == "remove_variant" and len(variants) > 1:
            variants.remove(touched)
        elif step == "status":
            status = draw(st.sampled_from(["active", "archived", "draft"]))
        touched["updated_at"] = stamp(minute, 0)
        emit("products/update")
    if draw(st.booleans()) and draw(st.booleans()):
        payload = examples.deleted("products/delete", product_id)
        deliveries.append(Delivery((10_000, 10 + serial), "products/delete", payload))
    for variant in ever:
        item_minute = draw(st.integers(0, 400))
        for position in range(draw(st.integers(0, 2))):
            item_minute += draw(st.integers(1, 60))
            topic = "inventory_items/create" if position == 0 else "inventory_items/update"
            payload = examples.inventory_item(
                variant["inventory_item_id"],
                tracked=draw(st.booleans()),
                updated_at=stamp(item_minute, draw(st.integers(0, 2))),
                topic=topic,
            )
            deliveries.append(Delivery((item_minute, 20 + serial), topic, payload))
    return deliveries


@st.composite
def product_deliveries(draw) -> list[Delivery]:
    return [d for serial, pid in enumerate(PRODUCT_IDS) for d in draw(product_history(pid, serial))]


# ---------------------------------------------------------------- delivery orders, applying, state


@st.composite
def delivery_order(draw, deliveries: list[Delivery]) -> list[Delivery]:
    """Every delivery at least once, some twice or three times (redeliveries), in any order."""
    extra = draw(st.lists(st.sampled_from(range(len(deliveries))), max_size=len(deliveries)))
    return [deliveries[i] for i in draw(st.permutations(list(range(len(deliveries))) + extra))]


def shopify_order(deliveries: list[Delivery]) -> list[Delivery]:
    return sorted(deliveries)


RETRIES = 3  # the webhook job's retry policy (posai_app.queue.RETRY): attempts after the first


def apply(shop_id: int, deliveries: list[Delivery]) -> None:
    """Run each delivery's job as the worker would; a job that fails is retried after the rest (as RQ
    does, 10 s to 5 min later), up to RETRIES times. Any other error is a bug and propagates."""
    pending = list(deliveries)
    for _attempt in range(1 + RETRIES):
        failed = []
        for delivery in pending:
            try:
                handlers.process_webhook(shop_id, None, delivery.topic, copy.deepcopy(delivery.payload))
            except handlers.InventoryItemNotStoredError:
                failed.append(delivery)
        pending = failed
        if not pending:
            return


def stored_state(shop_id: int) -> dict[str, list[tuple]]:
    """Every row the deliveries can write, without the shop id and our own clocks' times.

    Variants count only while live: a variant or product removed is as good as never stored.
    """
    line_items = db.session.execute(
        sa.select(
            OrderLineItem.line_item_id,
            OrderLineItem.order_id,
            OrderLineItem.order_number,
            OrderLineItem.order_name,
            OrderLineItem.created_at,
            OrderLineItem.currency,
            OrderLineItem.product_id,
            OrderLineItem.variant_id,
            OrderLineItem.title,
            OrderLineItem.quantity,
            OrderLineItem.price,
            OrderLineItem.sku,
            OrderLineItem.is_custom_sale,
            OrderLineItem.cancelled_at,
            OrderLineItem.shopify_updated_at,
        )
        .where(of_shop(OrderLineItem, shop_id))
        .order_by(OrderLineItem.line_item_id)
    ).all()
    versions = db.session.execute(
        sa.select(OrderVersion.order_id, OrderVersion.shopify_updated_at)
        .where(of_shop(OrderVersion, shop_id))
        .order_by(OrderVersion.order_id)
    ).all()
    tombstones = db.session.execute(
        sa.select(ShopifyTombstone.resource, ShopifyTombstone.resource_id)
        .where(of_shop(ShopifyTombstone, shop_id))
        .order_by(ShopifyTombstone.resource, ShopifyTombstone.resource_id)
    ).all()
    variants = db.session.execute(
        sa.select(
            ProductVariant.variant_id,
            ProductVariant.product_id,
            ProductVariant.product_title,
            ProductVariant.status,
            ProductVariant.variant_title,
            ProductVariant.price,
            ProductVariant.sku,
            ProductVariant.inventory_item_id,
            ProductVariant.inventory_quantity,
            ProductVariant.inventory_tracked,
            ProductVariant.inventory_policy,
            ProductVariant.shopify_updated_at,
        )
        .where(of_shop(ProductVariant, shop_id), ProductVariant.deleted_at.is_(None))
        .order_by(ProductVariant.variant_id)
    ).all()
    return {
        "line_items": [tuple(r) for r in line_items],
        "order_versions": [tuple(r) for r in versions],
        "tombstones": [tuple(r) for r in tombstones],
        "variants": [tuple(r) for r in variants],
    }

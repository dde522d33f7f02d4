"""REST-shaped fake data (posai_app.demo.payloads) as Admin GraphQL nodes: GIDs, string prices.

The pages (run through the real schema, tests.fakeshopify.resolvers) and the bulk JSONL
files (tests.fakeshopify.server) share these shapes. A bulk line is a shape as it is, so a
shape holds exactly the fields the app's bulk queries select (posai_app.shopify.queries):
tests/shopify_contract/test_bulk_lines.py executes those queries against Shopify's schema
and fails when a line differs.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

GID = "gid://shopify/{}/{}"


def gid(kind: str, value: int | None) -> str | None:
    return None if value is None else GID.format(kind, value)


# ------------------------------------------------------------------ REST -> GraphQL shapes


def product_node(product: dict) -> dict:
    return {
        "id": gid("Product", product["id"]),
        "title": product.get("title"),
        "status": (product.get("status") or "active").upper(),
        "isGiftCard": bool(product.get("is_gift_card", False)),
        "updatedAt": product.get("updated_at"),
        "productType": product.get("product_type") or "",
        "vendor": product.get("vendor") or "",
        "tags": [t.strip() for t in (product.get("tags") or "").split(",") if t.strip()],
    }


def variant_node(variant: dict) -> dict:
    return {
        "id": gid("ProductVariant", variant["id"]),
        "title": variant.get("title"),
        "price": variant.get("price"),
        "sku": variant.get("sku"),
        "inventoryQuantity": variant.get("inventory_quantity"),
        "inventoryPolicy": (variant.get("inventory_policy") or "deny").upper(),
        "updatedAt": variant.get("updated_at"),
        "inventoryItem": {
            "id": gid("InventoryItem", variant.get("inventory_item_id")),
            "tracked": variant.get("inventory_management") is not None,
        },
    }


def level_nodes(variant: dict) -> list[dict]:
    """A variant's stock per location (`inventory_levels`: location_id, available, updated_at)."""
    item = variant.get("inventory_item_id")
    return [
        {
            "id": f"gid://shopify/InventoryLevel/{level['location_id']}?inventory_item_id={item}",
            "updatedAt": level.get("updated_at") or variant.get("updated_at"),
            "location": {"id": gid("Location", level["location_id"])},
            "quantities": [{"name": "available", "quantity": int(level.get("available") or 0)}],
        }
        for level in variant.get("inventory_levels") or []
    ]


def order_node(order: dict) -> dict:
    return {
        "id": gid("Order", order["id"]),
        "name": order.get("name"),
        "createdAt": order.get("created_at"),
        "updatedAt": order.get("updated_at"),
        "cancelledAt": order.get("cancelled_at"),
        "currencyCode": order.get("currency"),
        "sourceName": order.get("source_name"),
        "retailLocation": {"id": gid("Location", order["location_id"])} if order.get("location_id") else None,
        "customAttributes": _attributes(order.get("note_attributes")),
    }


def _attributes(pairs: list[dict] | None) -> list[dict]:
    """REST `properties` / `note_attributes` ({name, value}) as GraphQL's Attribute ({key, value})."""
    return [{"key": p["name"], "value": p.get("value")} for p in pairs or []]


def line_item_node(item: dict, currency: str | None) -> dict:
    return {
        "id": gid("LineItem", item["id"]),
        "title": item.get("title"),
        "quantity": item.get("quantity"),
        "currentQuantity": item.get("current_quantity", item.get("quantity")),
        "sku": item.get("sku"),
        "variant": {"id": gid("ProductVariant", item["variant_id"])} if item.get("variant_id") else None,
        "product": {"id": gid("Product", item["product_id"])} if item.get("product_id") else None,
        "originalUnitPriceSet": {"shopMoney": {"amount": item.get("price"), "currencyCode": currency}},
        "customAttributes": _attributes(item.get("properties")),
        "discountAllocations": [
            {"allocatedAmountSet": {"shopMoney": {"amount": a.get("amount")}}}
            for a in item.get("discount_allocations") or []
        ],
    }


def search_since(search: str | None) -> str | None:
    """`updated_at:>='2024-01-01T00:00:00Z'` -> the timestamp (the only filter POSAI sends)."""
    if not search:
        return None
    match = re.search(r"updated_at:>=?'?([0-9T:\-\.Z+]+)'?", search)
    return match.group(1) if match else None


def ts(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

"""Shopify payloads (GraphQL nodes, REST/webhook bodies) -> the plain dicts ingest upserts.

Both shapes end in the same two dicts (documented in docs/ingestion.md):
products `{"product_id", "title", "status", "is_gift_card", "updated_at", "variants": [...]}`
and orders `{"order_id", "order_number", "name", "created_at", "updated_at", "cancelled_at",
"currency", "line_items": [...]}`, with numeric ids, UTC datetimes and Decimal prices.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from posai_app.shopify.gid import from_gid

_DIGITS = re.compile(r"(\d+)")


def parse_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from an ISO-8601 string (or datetime); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_money(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return Decimal(value)
        except InvalidOperation:
            return None
    if isinstance(value, dict):  # MoneyV2 / MoneyBag
        value = (value.get("shopMoney") or value).get("amount")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _order_number(name: str | None, explicit: Any = None) -> int | None:
    if explicit is not None:
        return int(explicit)
    match = _DIGITS.search(name or "")
    return int(match.group(1)) if match else None


def _current(item: dict, current_key: str) -> int:
    """Units still on the order: the current quantity when Shopify sends it, else the original."""
    current = item.get(current_key)
    return int(item.get("quantity") or 0) if current is None else int(current)


def _id(node: dict, key: str = "id") -> int | None:
    value = node.get(key)
    if isinstance(value, dict):
        value = value.get("id")
    return from_gid(value)


# ---- GraphQL nodes (bulk JSONL lines and paginated queries) ----


def product_from_graphql(node: dict, variant_nodes: list[dict]) -> dict:
    """A Product node plus its ProductVariant nodes -> product dict."""
    return {
        "product_id": from_gid(node["id"]),
        "title": node.get("title") or "",
        "status": (node.get("status") or "ACTIVE").lower(),
        "is_gift_card": node.get("isGiftCard"),
        "updated_at": parse_datetime(node.get("updatedAt")),
        "variants": [_variant_from_graphql(v) for v in variant_nodes],
    }


def _variant_from_graphql(node: dict) -> dict:
    item = node.get("inventoryItem") or {}
    return {
        "variant_id": from_gid(node["id"]),
        "inventory_item_id": from_gid(item.get("id")),
        "title": node.get("title"),
        "price": parse_money(node.get("price")),
        "sku": node.get("sku") or None,
        "inventory_quantity": node.get("inventoryQuantity"),
        "inventory_tracked": bool(item.get("tracked", False)),
        "inventory_policy": (node.get("inventoryPolicy") or "DENY").lower(),
        "updated_at": parse_datetime(node.get("updatedAt")),
    }


def order_from_graphql(node: dict, line_item_nodes: list[dict]) -> dict:
    """An Order node plus its LineItem nodes -> order dict."""
    return {
        "order_id": from_gid(node["id"]),
        "order_number": _order_number(node.get("name")),
        "name": node.get("name"),
        "created_at": parse_datetime(node["createdAt"]),
        "updated_at": parse_datetime(node.get("updatedAt")),
        "cancelled_at": parse_datetime(node.get("cancelledAt")),
        "currency": node.get("currencyCode"),
        # Line items removed by an order edit (or fully refunded) were not bought: leave them out.
        "line_items": [
            _line_item_from_graphql(li) for li in line_item_nodes if _current(li, "currentQuantity")
        ],
    }


def _line_item_from_graphql(node: dict) -> dict:
    variant_id = _id(node, "variant")
    return {
        "line_item_id": from_gid(node["id"]),
        "product_id": _id(node, "product"),
        "variant_id": variant_id,
        "title": node.get("title") or node.get("name") or "",
        "quantity": _current(node, "currentQuantity"),
        "price": parse_money(node.get("originalUnitPriceSet")),
        "sku": node.get("sku") or None,
        "is_custom_sale": variant_id is None,
    }


# ---- REST / webhook bodies ----


def product_from_rest(payload: dict) -> dict:
    """A `products/create` / `products/update` webhook body -> product dict."""
    gift = payload.get("is_gift_card", payload.get("gift_card"))
    return {
        "product_id": int(payload["id"]),
        "title": payload.get("title") or "",
        "status": (payload.get("status") or "active").lower(),
        "is_gift_card": None if gift is None else bool(gift),
        "updated_at": parse_datetime(payload.get("updated_at")),
        "variants": [_variant_from_rest(v) for v in payload.get("variants") or []],
    }


def _variant_from_rest(variant: dict) -> dict:
    return {
        "variant_id": int(variant["id"]),
        "inventory_item_id": variant.get("inventory_item_id"),
        "title": variant.get("title"),
        "price": parse_money(variant.get("price")),
        "sku": variant.get("sku") or None,
        "inventory_quantity": variant.get("inventory_quantity"),
        "inventory_tracked": variant.get("inventory_management") is not None,
        "inventory_policy": (variant.get("inventory_policy") or "deny").lower(),
        "updated_at": parse_datetime(variant.get("updated_at")),
    }


def order_from_rest(payload: dict) -> dict:
    """An `orders/*` webhook body (or a REST order) -> order dict."""
    return {
        "order_id": int(payload["id"]),
        "order_number": _order_number(payload.get("name"), payload.get("order_number")),
        "name": payload.get("name"),
        "created_at": parse_datetime(payload["created_at"]),
        "updated_at": parse_datetime(payload.get("updated_at")),
        "cancelled_at": parse_datetime(payload.get("cancelled_at")),
        "currency": payload.get("currency"),
        "line_items": [
            _line_item_from_rest(li)
            for li in payload.get("line_items") or []
            if _current(li, "current_quantity")
        ],
    }


def _line_item_from_rest(item: dict) -> dict:
    variant_id = item.get("variant_id")
    return {
        "line_item_id": int(item["id"]),
        "product_id": item.get("product_id"),
        "variant_id": variant_id,
        "title": item.get("title") or item.get("name") or "",
        "quantity": _current(item, "current_quantity"),
        "price": parse_money(item.get("price")),
        "sku": item.get("sku") or None,
        "is_custom_sale": variant_id is None,
    }

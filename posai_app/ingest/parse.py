"""Shopify payloads (GraphQL nodes, REST/webhook bodies) -> the plain dicts ingest upserts.

Both shapes end in the same two dicts (documented in docs/ingestion.md):
products `{"product_id", "title", "status", "is_gift_card", "updated_at", "variants": [...]}`
and orders `{"order_id", "order_number", "name", "created_at", "updated_at", "cancelled_at",
"currency", "line_items": [...]}`, with numeric ids, UTC datetimes and Decimal prices.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from posai_app.errors import ValidationFailed
from posai_app.inputs import clean_text, parse_id, parse_int
from posai_app.shopify.gid import from_gid

_F = TypeVar("_F", bound=Callable[..., Any])
MAX_COUNT = 2**31 - 1  # quantities and stock levels: PostgreSQL `integer`
MAX_MONEY = Decimal(10) ** 12


class MalformedPayload(ValidationFailed):
    """A REST/webhook body that is not the shape Shopify sends (an id that is no id, a list
    where a title belongs, a missing `created_at`): refused as a whole, never half-stored."""


def _refuses_malformed(parse: _F) -> _F:
    """Turn the KeyError/TypeError/ValueError of a body of the wrong shape into MalformedPayload."""

    @functools.wraps(parse)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return parse(*args, **kwargs)
        except MalformedPayload:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError, IndexError) as exc:
            raise MalformedPayload(
                f"{parse.__name__}: malformed payload ({exc.__class__.__name__}: {str(exc)[:200]})"
            ) from None

    return wrapper  # type: ignore[return-value]


def _rest_int_id(value: Any) -> int:
    """An id of a REST body (a JSON integer or digit string within bigint); ValueError otherwise."""
    parsed = parse_id(value)
    if parsed is None:
        raise ValueError(f"{str(value)[:40]!r} is not an id")
    return parsed


def _count(value: Any) -> int:
    """A quantity or stock level: a JSON integer (or digit string) within PostgreSQL's integer."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,10}", value.strip()):
        value = int(value)
    parsed = parse_int(value)
    if parsed is None or abs(parsed) > MAX_COUNT:
        raise ValueError(f"{str(value)[:40]!r} is not a count")
    return parsed


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: Any) -> str | None:
    return None if value is None else _text(value)


_DIGITS = re.compile(r"([0-9]+)")
# Line-item property the POS extension sets to the recommendation id of an added suggestion,
# and the cart property (an order attribute) listing the recommendations shown on the cart.
ATTRIBUTION_PROPERTY = "_posai"
SHOWN_ATTRIBUTE = "_posai_shown"


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
    """An amount; None when absent or not a finite amount below 10¹² (NaN is no price)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):  # MoneyV2 / MoneyBag
        value = (value.get("shopMoney") or value).get("amount")
    try:
        amount = value if isinstance(value, str) else str(value)
        money = Decimal(amount)
    except (InvalidOperation, ValueError):
        return None
    return money if money.is_finite() and abs(money) < MAX_MONEY else None


def _order_number(name: str | None, explicit: Any = None) -> int | None:
    if explicit is not None:
        return _count(explicit)
    match = _DIGITS.search(name or "")
    return int(match.group(1)) if match and len(match.group(1)) <= 9 else None


def _current(item: dict, current_key: str) -> int:
    """Units still on the order: the current quantity when Shopify sends it, else the original.

    Never negative: a negative count is not a purchase (and would subtract from pair counts).
    """
    current = item.get(current_key)
    units = _count(item.get("quantity") or 0) if current is None else _count(current)
    return max(0, units)


def _id(node: dict, key: str = "id") -> int | None:
    value = node.get(key)
    if isinstance(value, dict):
        value = value.get("id")
    return from_gid(value)


# ---- GraphQL nodes (bulk JSONL lines and paginated queries) ----


def product_from_graphql(node: dict, variant_nodes: list[dict]) -> dict:
    """A Product node plus its ProductVariant nodes -> product dict."""
    product = {
        "product_id": from_gid(node["id"]),
        "title": node.get("title") or "",
        "status": (node.get("status") or "ACTIVE").lower(),
        "is_gift_card": node.get("isGiftCard"),
        "updated_at": parse_datetime(node.get("updatedAt")),
        "variants": [_variant_from_graphql(v) for v in variant_nodes],
    }
    if "productType" in node:
        product["product_type"] = node.get("productType") or ""
    if "vendor" in node:
        product["vendor"] = node.get("vendor") or ""
    if "tags" in node:
        product["tags"] = join_tags(node.get("tags") or [])
    return product


def join_tags(tags: Any) -> str:
    """Shopify's tags (a list, or REST's comma-separated string) as one ", "-joined string."""
    if isinstance(tags, str):
        tags = tags.split(",")
    return ", ".join(t for t in (str(tag).strip() for tag in tags) if t)


def split_tags(tags: str | None) -> list[str]:
    return [t.strip() for t in (tags or "").split(",") if t.strip()]


def inventory_level_from_graphql(node: dict) -> dict | None:
    """An InventoryLevel node -> {"location_id", "available", "updated_at"} (None without a location)."""
    location = from_gid((node.get("location") or {}).get("id"))
    if location is None:
        return None
    available = next(
        (q.get("quantity") for q in node.get("quantities") or [] if q.get("name") == "available"), None
    )
    return {
        "location_id": location,
        "available": None if available is None else int(available),
        "updated_at": parse_datetime(node.get("updatedAt")),
    }


def _levels_from_graphql(node: dict, item: dict) -> list[dict] | None:
    """A variant's levels: its inventoryItem's `inventoryLevels` page (every page joined by the
    sync) or, in a bulk file, the InventoryLevel lines joined to it; None when not asked for."""
    if "inventoryLevels" in item:
        level_nodes = [e["node"] for e in (item.get("inventoryLevels") or {}).get("edges") or []]
    elif "__children" in node:
        level_nodes = node["__children"]
    else:
        return None
    return [level for level in map(inventory_level_from_graphql, level_nodes) if level is not None]


def _variant_from_graphql(node: dict) -> dict:
    item = node.get("inventoryItem") or {}
    variant = {
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
    levels = _levels_from_graphql(node, item)
    if levels is not None:
        variant["inventory_levels"] = levels
    return variant


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
        # Measured impact (posai_app.impact.attribution). The staff member is not readable
        # here: Order.staffMember needs `read_users` (Plus/Advanced shops only).
        "location_id": _id(node, "retailLocation"),
        "staff_member_id": None,
        "source_name": node.get("sourceName"),
        "shown_ids": _shown_ids(node.get("customAttributes"), "key"),
        "attributed_lines": [
            line
            for li in line_item_nodes
            if (line := _attributed_line(li, li.get("customAttributes"), "key", _graphql_money(li)))
        ],
    }


# ---- bulk orders as COPY text (the initial sync's hot path on PostgreSQL) ----

# Columns of a line item's COPY row, and of its order's: ingest.bulk_orders joins them.
LINE_COPY_COLUMNS = (
    "order_id",
    "line_item_id",
    "product_id",
    "variant_id",
    "title",
    "quantity",
    "price",
    "sku",
    "is_custom_sale",
)
ORDER_COPY_COLUMNS = (
    "order_id",
    "order_number",
    "order_name",
    "created_at",
    "currency",
    "cancelled_at",
    "shopify_updated_at",
)
_COPY_SPECIAL = re.compile("[\x00-\x1f\x7f\\\\]")  # control characters and the backslash
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_PLAIN_AMOUNT = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,20})?")


def copy_text(value: str | None) -> str:
    """A text value as a field of PostgreSQL's COPY text format (None: `\\N`), cleaned as
    `inputs.clean_text` cleans every stored text (NUL and other control characters removed)."""
    if value is None:
        return "\\N"
    if _COPY_SPECIAL.search(value) is None:
        return value
    return clean_text(value).translate(_COPY_ESCAPES)


def _copy_id(value: int | None) -> str:
    return "\\N" if value is None else str(value)


def _copy_time(value: datetime | None) -> str:
    return "\\N" if value is None else value.isoformat()


def _copy_amount(money: Any) -> str:
    """`parse_money` of a MoneyBag as COPY text: the amount itself when it is a plain decimal."""
    if type(money) is dict:
        amount = (money.get("shopMoney") or money).get("amount")
        if type(amount) is str and _PLAIN_AMOUNT.fullmatch(amount):
            return amount
    parsed = parse_money(money)
    return "\\N" if parsed is None else str(parsed)


def _copy_gid(value: Any) -> str:
    """A GID (or an object carrying one as `id`) as the COPY text of its numeric id (None: `\\N`).

    The bulk file's hot path: the digits are copied as they are (PostgreSQL parses the bigint),
    without building an int; anything unusual goes through `from_gid` and fails as it does.
    """
    if type(value) is dict:
        value = value.get("id")
    if type(value) is str and value.startswith("gid://shopify/"):
        tail = value[value.rfind("/") + 1 :]
        if 0 < len(tail) <= 18 and tail.isdigit() and tail.isascii():
            return tail
    parsed = from_gid(value)
    return "\\N" if parsed is None else str(parsed)


def bulk_order_header(node: dict) -> dict:
    """An Order line of a bulk orders file -> its header (the order without line items).

    The keys of `orders.upsert_orders` records without `line_items`: order_id, order_number, name,
    created_at, updated_at, cancelled_at, currency; plus `tagged` when the order carries the app's
    `_posai_shown` cart property.
    """
    name = node.get("name")
    return {
        "order_id": from_gid(node["id"]),
        "order_number": _order_number(name),
        "name": name,
        "created_at": parse_datetime(node["createdAt"]),
        "updated_at": parse_datetime(node.get("updatedAt")),
        "cancelled_at": parse_datetime(node.get("cancelledAt")),
        "currency": node.get("currencyCode"),
        "tagged": bool(node.get("customAttributes") and _shown_ids(node["customAttributes"], "key")),
    }


def bulk_line_row(li: dict) -> str | None:
    """A LineItem line of a bulk orders file -> its COPY row (LINE_COPY_COLUMNS; the order is its
    `__parentId`), or None for a line with nothing left (removed by an edit, refunded).

    The same values `order_from_graphql` gives the line (tests/ingest/test_bulk_copy_path.py).
    """
    current = li.get("currentQuantity")
    if type(current) is int and 0 < current <= MAX_COUNT:
        quantity = current
    else:
        quantity = _current(li, "currentQuantity")
        if not quantity:
            return None
    variant = li.get("variant")
    variant_id = "\\N" if variant is None else _copy_gid(variant)
    return "\t".join(
        (
            _copy_gid(li["__parentId"]),
            _copy_gid(li["id"]),
            _copy_gid(li.get("product")),
            variant_id,
            copy_text(li.get("title") or li.get("name") or ""),
            str(quantity),
            _copy_amount(li.get("originalUnitPriceSet")),
            copy_text(li.get("sku") or None),
            "t" if variant_id == "\\N" else "f",
        )
    )


def bulk_line_tagged(li: dict) -> bool:
    """Whether a LineItem line carries the app's `_posai` property (an added recommendation)."""
    attributes = li.get("customAttributes")
    return bool(attributes) and _attribute(attributes, "key", ATTRIBUTION_PROPERTY) is not None


def _graphql_money(node: dict) -> tuple[Decimal | None, Decimal]:
    """(unit price, discounts allocated to the whole line), in the shop's currency."""
    discount = sum(
        (parse_money((a.get("allocatedAmountSet") or {}).get("shopMoney")) or Decimal(0))
        for a in node.get("discountAllocations") or []
    )
    return parse_money(node.get("originalUnitPriceSet")), Decimal(discount)


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
#
# A webhook body may leave fields out (Shopify removed several variant fields from product
# webhooks in 2024-07, and a topic's payload can change at any version boundary), so these
# dicts only carry a key when the payload carries the field: a missing key means "not in
# the payload", which `services.upsert_products` never writes over the stored value. A null
# counts as missing where Shopify never sends null for a real value (ids, price, quantity,
# policy, title, status); `sku` null means "no SKU" and is stored.


@_refuses_malformed
def rest_id(body: dict, resource: str, key: str = "id") -> int:
    """The exact id of a REST/webhook object: from its `admin_graphql_api_id` GID when present.

    Ids are 64-bit integers, and any JSON reader that uses doubles (JavaScript's, and the
    examples in Shopify's docs, which were rounded that way: `"id": 788032119674292900`
    beside `"gid://shopify/Product/788032119674292922"`) loses their last digits; the GID is
    a string and always exact. A GID of another resource is not this object's id.
    """
    gid = body.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith(f"gid://shopify/{resource}/"):
        return _rest_int_id(gid)
    return _rest_int_id(body[key])


def _optional_int(value: Any) -> int | None:
    """An optional id (a line item's variant or product)."""
    return None if value is None or value == "" else _rest_int_id(value)


def _put(target: dict, key: str, body: dict, field: str, convert: Any = None) -> None:
    """Copy body[field] into target[key] (converted) unless the payload lacks it or sends null."""
    value = body.get(field)
    if value is not None:
        target[key] = convert(value) if convert else value


@_refuses_malformed
def product_from_rest(payload: dict) -> dict:
    """A `products/create` / `products/update` webhook body -> product dict (absent fields omitted)."""
    product: dict[str, Any] = {
        "product_id": rest_id(payload, "Product"),
        "updated_at": parse_datetime(payload.get("updated_at")),
    }
    _put(product, "title", payload, "title", _text)
    _put(product, "status", payload, "status", lambda s: _text(s).lower())
    # GraphQL's Product.isGiftCard; REST bodies do not carry it (our demo shape does).
    _put(product, "is_gift_card", payload, "is_gift_card", bool)
    _put(product, "product_type", payload, "product_type", _text)
    _put(product, "vendor", payload, "vendor", _text)
    _put(product, "tags", payload, "tags", join_tags)
    variants = payload.get("variants")
    product["variants"] = [_variant_from_rest(v) for v in variants or []]
    product["variant_ids"] = _listed_variant_ids(payload, product["variants"], variants is not None)
    return product


def _listed_variant_ids(payload: dict, variants: list[dict], has_variants: bool) -> list[int] | None:
    """Every variant the product has now, or None when the payload does not say.

    Product webhooks carry full variants for the first 100 only, and `variant_gids` (with
    `updated_at`) for all of them, so variants 101+ are still the product's:
    https://shopify.dev/docs/api/admin/migrate/new-product-model
    """
    sent = [v["variant_id"] for v in variants]
    listed = payload.get("variant_gids")
    if isinstance(listed, list):
        ids = [from_gid(v["admin_graphql_api_id"]) for v in listed if v.get("admin_graphql_api_id")]
        known = set(ids)
        return ids + [i for i in sent if i not in known]  # a sent variant is the product's too
    return sent if has_variants else None


def _variant_from_rest(variant: dict) -> dict:
    row: dict[str, Any] = {
        "variant_id": rest_id(variant, "ProductVariant"),
        "updated_at": parse_datetime(variant.get("updated_at")),
    }
    _put(row, "inventory_item_id", variant, "inventory_item_id", _rest_int_id)
    _put(row, "title", variant, "title", _text)
    _put(row, "price", variant, "price", parse_money)
    if "sku" in variant:
        row["sku"] = _optional_text(variant["sku"] or None)
    _put(row, "inventory_quantity", variant, "inventory_quantity", _count)
    _put(row, "inventory_policy", variant, "inventory_policy", lambda p: _text(p).lower())
    # Tracking is InventoryItem.tracked (GraphQL, or the inventory_items/update webhook): from
    # 2024-07 product webhooks no longer carry `inventory_management`
    # (https://shopify.dev/changelog/product-variant-field-cleanup). Older payloads, and the
    # demo's CSV-derived shape, still do; there a null meant "not tracked".
    if "inventory_management" in variant:
        row["inventory_tracked"] = variant["inventory_management"] is not None
    return row


@_refuses_malformed
def inventory_item_from_rest(payload: dict) -> dict:
    """An `inventory_items/update` body -> {"inventory_item_id", "tracked"?, "sku"?, "updated_at"}."""
    item: dict[str, Any] = {
        "inventory_item_id": rest_id(payload, "InventoryItem"),
        "updated_at": parse_datetime(payload.get("updated_at")),
    }
    _put(item, "tracked", payload, "tracked", bool)
    return item


@_refuses_malformed
def inventory_item_id_from_level(payload: dict) -> int:
    """The inventory item of an `inventory_levels/update` body, exactly.

    Its GID is "gid://shopify/InventoryLevel/<location>?inventory_item_id=<item>"; the
    numeric `inventory_item_id` beside it may have been rounded like every other id.
    """
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and "?" in gid:
        item = parse_qs(urlsplit(gid).query).get("inventory_item_id", [""])[0]
        if parse_id(item) is not None:
            return _rest_int_id(item)
    return _rest_int_id(payload["inventory_item_id"])


@_refuses_malformed
def inventory_level_from_rest(payload: dict) -> dict:
    """An `inventory_levels/update` body -> {"inventory_item_id", "location_id", "available",
    "updated_at"}."""
    available = payload.get("available")
    return {
        "inventory_item_id": inventory_item_id_from_level(payload),
        "location_id": _rest_int_id(payload["location_id"]),
        "available": None if available is None else _count(available),
        "updated_at": parse_datetime(payload.get("updated_at")),
    }


@_refuses_malformed
def order_from_rest(payload: dict) -> dict:
    """An `orders/*` webhook body (or a REST order) -> order dict."""
    return {
        "order_id": rest_id(payload, "Order"),
        "order_number": _order_number(payload.get("name"), payload.get("order_number")),
        "name": _optional_text(payload.get("name")),
        "created_at": parse_datetime(payload["created_at"]),
        "updated_at": parse_datetime(payload.get("updated_at")),
        "cancelled_at": parse_datetime(payload.get("cancelled_at")),
        "currency": _optional_text(payload.get("currency")),
        "line_items": [
            _line_item_from_rest(li)
            for li in payload.get("line_items") or []
            if _current(li, "current_quantity")
        ],
        # Measured impact (posai_app.impact.attribution): POS orders carry their location and
        # the staff member who processed them (`user_id`), line items their attributed staff.
        "location_id": _optional_id(payload.get("location_id")),
        "staff_member_id": _optional_id(payload.get("user_id")),
        "source_name": payload.get("source_name"),
        "shown_ids": _shown_ids(payload.get("note_attributes"), "name"),
        "attributed_lines": [
            line
            for li in payload.get("line_items") or []
            if (line := _attributed_line(li, li.get("properties"), "name", _rest_money(li)))
        ],
    }


def _rest_money(item: dict) -> tuple[Decimal | None, Decimal]:
    """(unit price, discounts allocated to the whole line), in the shop's currency."""
    price = parse_money((item.get("price_set") or {}).get("shop_money")) or parse_money(item.get("price"))
    discount = sum(
        (
            parse_money((a.get("amount_set") or {}).get("shop_money"))
            or parse_money(a.get("amount"))
            or Decimal(0)
        )
        for a in item.get("discount_allocations") or []
    )
    return price, Decimal(discount)


def _optional_id(value: Any) -> int | None:
    try:
        number = (
            from_gid(value) if isinstance(value, str) and value.startswith("gid://") else _optional_int(value)
        )
    except (TypeError, ValueError):
        return None
    return number if number and number > 0 else None


def _attribute(attributes: Any, name_key: str, name: str) -> str | None:
    """The value of attribute `name` in a list of {name|key, value} (REST / GraphQL), or None."""
    for attribute in attributes if isinstance(attributes, list) else ():
        if isinstance(attribute, dict) and attribute.get(name_key) == name:
            value = attribute.get("value")
            return value.strip() if isinstance(value, str) and value.strip() else None
    return None


def _shown_ids(attributes: Any, name_key: str) -> list[str]:
    """Recommendation ids the cart property `_posai_shown` lists (space or comma separated)."""
    value = _attribute(attributes, name_key, SHOWN_ATTRIBUTE) or ""
    return list(dict.fromkeys(part for part in re.split(r"[\s,]+", value) if part))[:50]


def _attributed_line(
    item: dict, attributes: Any, name_key: str, money: tuple[Decimal | None, Decimal]
) -> dict | None:
    """A line tagged with a recommendation id (any quantity left: refunds must subtract), else None."""
    tag = _attribute(attributes, name_key, ATTRIBUTION_PROPERTY)
    if tag is None:
        return None
    graphql = "currentQuantity" in item or "originalUnitPriceSet" in item
    staffs = item.get("attributed_staffs") or []
    staff = staffs[0].get("id") if staffs and isinstance(staffs[0], dict) else None
    return {
        "line_item_id": from_gid(item["id"]) if graphql else rest_id(item, "LineItem"),
        "variant_id": _id(item, "variant") if graphql else _optional_int(item.get("variant_id")),
        "title": item.get("title") or item.get("name") or "",
        "recommendation_id": tag,
        "quantity": max(0, int(item.get("quantity") or 0)),
        "current_quantity": _current(item, "currentQuantity" if graphql else "current_quantity"),
        "unit_price": money[0],
        "discount": money[1],
        "staff_member_id": _optional_id(staff),
    }


def _line_item_from_rest(item: dict) -> dict:
    variant_id = _optional_int(item.get("variant_id"))
    return {
        "line_item_id": rest_id(item, "LineItem"),
        "product_id": _optional_int(item.get("product_id")),
        "variant_id": variant_id,
        "title": _text(item.get("title") or item.get("name") or ""),
        "quantity": _current(item, "current_quantity"),
        "price": parse_money(item.get("price")),
        "sku": _optional_text(item.get("sku") or None),
        "is_custom_sale": variant_id is None,
    }

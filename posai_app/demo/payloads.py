"""The common order-history CSV turned into Shopify-shaped products and orders.

The CSV (`order_id,created_at,variant_id,product_title,price,quantity`, one row per line
item, rows of an order adjacent) carries shop-local codes ("85123A", "536365"). Shopify
speaks numeric ids, so every code maps to a stable numeric id: the same code always gives
the same id, on every machine, with no table to keep. The StockCode is kept as the SKU.

Payloads have the shape of Shopify's REST/webhook resources (`orders/create`,
`products/create`): numeric ids, `admin_graphql_api_id` GIDs, prices as strings.
The demo importer and the tests' fake Shopify both build on these.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal

DATA_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "online_retail", "orders.csv.gz")
CURRENCY = "GBP"

# Id namespaces: all ids stay below 2**53 so JavaScript (the POS extension) reads them exactly.
_VARIANT_BASE = 41_000_000_000_000
_PRODUCT_BASE = 42_000_000_000_000
_INVENTORY_ITEM_BASE = 43_000_000_000_000
_ORDER_BASE = 5_500_000_000_000
_LINE_ITEM_BASE = 14_000_000_000_000
_SPAN = 1_000_000_000_000
_MAX_LINES_PER_ORDER = 10_000


@dataclass(frozen=True, slots=True)
class Row:
    order_code: str
    created_at: str  # ISO-8601 UTC with "Z"
    variant_code: str
    title: str
    price: str
    quantity: int


def _hashed(namespace: str, code: str) -> int:
    digest = hashlib.blake2b(f"{namespace}:{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _SPAN


def variant_id_for(code: str) -> int:
    """Stable numeric variant id for a stock code ("85123A" -> 41…)."""
    return _VARIANT_BASE + _hashed("variant", code)


def product_id_for(code: str) -> int:
    """Stable numeric product id for a stock code (one product per code)."""
    return _PRODUCT_BASE + _hashed("product", code)


def inventory_item_id_for(code: str) -> int:
    return _INVENTORY_ITEM_BASE + _hashed("inventory_item", code)


def order_id_for(order_code: str) -> int:
    """Stable numeric order id for an invoice number."""
    if order_code.isdigit() and int(order_code) < _SPAN // _MAX_LINES_PER_ORDER:
        return _ORDER_BASE + int(order_code)
    return _ORDER_BASE + _SPAN // 2 + _hashed("order", order_code) % (_SPAN // 2)


def line_item_id_for(order_code: str, position: int) -> int:
    """Stable numeric line item id for the position-th (0-based) line of an order."""
    if position >= _MAX_LINES_PER_ORDER:
        raise ValueError(f"order {order_code} has more than {_MAX_LINES_PER_ORDER} lines")
    base = order_id_for(order_code) - _ORDER_BASE
    return _LINE_ITEM_BASE + base * _MAX_LINES_PER_ORDER + position


def is_gift_card_code(code: str) -> bool:
    return code.lower().startswith("gift_")


def _iso(created_at: str) -> str:
    # The source has no offset; we read it as UTC (documented in SOURCE.md).
    text = created_at.strip().replace(" ", "T")
    if text.endswith("Z") or "+" in text[10:]:
        return text
    if len(text) == 16:
        text += ":00"
    return text + "Z"


def read_rows(path: str | None = None, source: Iterable[str] | None = None) -> Iterator[Row]:
    """Rows of the common CSV (gzip or plain), or of `source` lines when given."""
    if source is not None:
        yield from _rows(csv.DictReader(source))
        return
    path = path or DATA_PATH
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        yield from _rows(csv.DictReader(fh))


def _rows(reader: Iterable[dict[str, str]]) -> Iterator[Row]:
    prices: dict[str, str] = {}  # few distinct prices and dates: normalise each once
    dates: dict[str, str] = {}
    for record in reader:
        raw_price = record["price"]
        price = prices.get(raw_price)
        if price is None:
            price = prices[raw_price] = str(Decimal(raw_price).quantize(Decimal("0.01")))
        raw_date = record["created_at"]
        created_at = dates.get(raw_date)
        if created_at is None:
            created_at = dates[raw_date] = _iso(raw_date)
        yield Row(
            order_code=record["order_id"].strip(),
            created_at=created_at,
            variant_code=record["variant_id"].strip(),
            title=record["product_title"].strip(),
            price=price,
            quantity=int(record["quantity"]),
        )


def rows_from_records(records: Iterable[dict[str, str]]) -> Iterator[Row]:
    """Rows from CSV records already read (dicts of the common columns), as read_rows makes them."""
    return _rows(records)


def iso_utc(created_at: str) -> str:
    """A CSV `created_at` as read_rows normalises it (ISO-8601 UTC with "Z")."""
    return _iso(created_at)


def group_orders(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """Consecutive rows of one order, as lists (the CSV keeps an order's rows together)."""
    current: list[Row] = []
    for row in rows:
        if current and row.order_code != current[0].order_code:
            yield current
            current = []
        current.append(row)
    if current:
        yield current


def order_payload(rows: list[Row]) -> dict:
    """One order as Shopify's REST/webhook `orders/create` payload would carry it."""
    first = rows[0]
    order_id = order_id_for(first.order_code)
    number = int(first.order_code) if first.order_code.isdigit() else None
    line_items = []
    for position, row in enumerate(rows):
        line_item_id = line_item_id_for(first.order_code, position)
        line_items.append(
            {
                "id": line_item_id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{line_item_id}",
                "variant_id": variant_id_for(row.variant_code),
                "product_id": product_id_for(row.variant_code),
                "title": row.title,
                "name": row.title,
                "variant_title": None,
                "quantity": row.quantity,
                "price": row.price,
                "sku": row.variant_code,
                "gift_card": is_gift_card_code(row.variant_code),
            }
        )
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{first.order_code}",
        "order_number": number,
        "created_at": first.created_at,
        "updated_at": first.created_at,
        "processed_at": first.created_at,
        "cancelled_at": None,
        "currency": CURRENCY,
        "line_items": line_items,
    }


def iter_order_payloads(path: str | None = None, source: Iterable[str] | None = None) -> Iterator[dict]:
    """Every order of the CSV as a REST-shaped payload, streamed (flat memory)."""
    for rows in group_orders(read_rows(path, source)):
        yield order_payload(rows)


def product_payloads(rows: Iterable[Row]) -> list[dict]:
    """One single-variant product per stock code, priced at its most recent order price."""
    latest: dict[str, Row] = {}
    for row in rows:
        seen = latest.get(row.variant_code)
        if seen is None or row.created_at >= seen.created_at:
            latest[row.variant_code] = row
    return [
        product_payload(row.variant_code, row.title, row.price, row.created_at) for row in latest.values()
    ]


def product_payload(code: str, title: str, price: str, updated_at: str) -> dict:
    """A product as Shopify's REST/webhook `products/create` payload would carry it."""
    product_id = product_id_for(code)
    variant_id = variant_id_for(code)
    inventory_item_id = inventory_item_id_for(code)
    gift_card = is_gift_card_code(code)
    return {
        "id": product_id,
        "admin_graphql_api_id": f"gid://shopify/Product/{product_id}",
        "title": title,
        "status": "active",
        "is_gift_card": gift_card,  # GraphQL's Product.isGiftCard; REST payloads omit it
        "created_at": updated_at,
        "updated_at": updated_at,
        "variants": [
            {
                "id": variant_id,
                "admin_graphql_api_id": f"gid://shopify/ProductVariant/{variant_id}",
                "product_id": product_id,
                "title": "Default Title",
                "price": price,
                "sku": code,
                "inventory_item_id": inventory_item_id,
                "inventory_quantity": 0 if gift_card else 10 + _hashed("stock", code) % 90,
                "inventory_management": None if gift_card else "shopify",
                "inventory_policy": "deny",
                "updated_at": updated_at,
            }
        ],
    }


def open_text(data: bytes) -> io.StringIO:
    """A CSV given as bytes (e.g. an upload), ready for read_rows(source=...)."""
    return io.StringIO(data.decode("utf-8-sig"))

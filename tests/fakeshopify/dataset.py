"""The Online Retail history (packaged with the app) as the fake's shop data."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from posai_app.ingest import shopify_shape

ORDERS = 19_773
LINE_ITEMS = 517_767
VARIANTS = 3_912


@functools.cache
def products() -> tuple[dict, ...]:
    """One REST-shaped product per stock code (computed once per process)."""
    return tuple(shopify_shape.product_payloads(shopify_shape.read_rows()))


def orders() -> Iterator[dict]:
    """Every order, streamed from the CSV each time (the fake keeps no copy)."""
    return shopify_shape.iter_order_payloads()


def small_history(order_count: int) -> tuple[list[dict], list[dict]]:
    """(products, orders) for the first `order_count` orders: quick tests."""
    picked = []
    for order in shopify_shape.iter_order_payloads():
        picked.append(order)
        if len(picked) >= order_count:
            break
    skus = {item["sku"] for order in picked for item in order["line_items"]}
    return [p for p in products() if p["variants"][0]["sku"] in skus], picked

"""The Online Retail history (packaged with the app) as the fake's shop data."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from posai_app.demo import payloads as shopify_shape

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
    groups = []
    for rows in shopify_shape.group_orders(shopify_shape.read_rows()):
        groups.append(rows)
        if len(groups) >= order_count:
            break
    orders = [shopify_shape.order_payload(rows) for rows in groups]
    return shopify_shape.product_payloads(row for rows in groups for row in rows), orders

"""The fake's Admin GraphQL data: a root value that graphql-core executes against Shopify's schema.

graphql-core's default resolver reads a dict's key and, when the value is callable, calls it
with the field's arguments; so a node is a plain dict of scalars whose connections are
functions of `first`/`after`. Whatever a document selects, the answer has exactly the
shape Shopify's schema gives it; a field the schema lacks fails validation first.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, value_from_ast_untyped

from tests.fakeshopify import shapes

if TYPE_CHECKING:
    from tests.fakeshopify.server import FakeShop, FakeShopify

MAX_PAGE_SIZE = 250  # Shopify's limit on `first`/`last`


def _cursor(position: int) -> str:
    return base64.b64encode(str(position).encode()).decode()


def _position(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(base64.b64decode(cursor).decode())
    except ValueError as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor!r}") from exc


def _in_bulk(info: Any) -> bool:
    """Whether `info` is of a bulk inner query (executed with context {"bulk": True})."""
    return isinstance(info.context, dict) and bool(info.context.get("bulk"))


def connection(items: list, render: Callable[[Any], dict]) -> Callable[..., dict]:
    """A connection field over `items`, paged by `first`/`after` like Shopify's cursors."""

    def resolve(info: Any, first: int | None = None, after: str | None = None, **_: Any) -> dict:
        if first is None and _in_bulk(info):
            first = len(items)  # a bulk query's connections take no `first`: everything is streamed
        elif first is None:
            raise GraphQLError("you must provide one of first or last")
        elif not 0 <= first <= MAX_PAGE_SIZE:
            raise GraphQLError(f"The maximum page size is {MAX_PAGE_SIZE}")
        start = _position(after)
        chunk = items[start : start + first]
        end = start + len(chunk)
        nodes = [render(item) for item in chunk]
        return {
            "edges": [{"node": n, "cursor": _cursor(start + i + 1)} for i, n in enumerate(nodes)],
            "nodes": nodes,
            "pageInfo": {
                "hasNextPage": end < len(items),
                "hasPreviousPage": start > 0,
                "startCursor": _cursor(start + 1) if chunk else None,
                "endCursor": _cursor(end) if chunk else after,
            },
        }

    return resolve


def product(item: dict) -> dict:
    variants = list(item.get("variants") or [])
    return {
        **shapes.product_node(item),
        "variants": connection(variants, variant),
        "metafield": lambda info, key, namespace=None: _metafield(item, namespace, key),
    }


def _metafield(item: dict, namespace: str | None, key: str) -> dict | None:
    """Search & Discovery's complementary products (`complementary_product_ids`), as Shopify stores
    a list.product_reference metafield: a JSON list of Product GIDs in `value`."""
    pairs = item.get("complementary_product_ids")
    asked = (namespace, key) == ("shopify--discovery--product_recommendation", "complementary_products")
    if not asked or not pairs:
        return None
    value = json.dumps([shapes.gid("Product", p) for p in pairs])
    return {"value": value, "type": "list.product_reference", "jsonValue": json.loads(value)}


def variant(item: dict) -> dict:
    node = shapes.variant_node(item)
    node["inventoryItem"] = {
        **node["inventoryItem"],
        "inventoryLevels": connection(shapes.level_nodes(item), lambda level: level),
    }
    return node


def order(item: dict) -> dict:
    currency = item.get("currency")
    items = list(item.get("line_items") or [])
    return {
        **shapes.order_node(item),
        "lineItems": connection(items, lambda i: shapes.line_item_node(i, currency)),
    }


def inventory_item(item: dict) -> dict:
    return {
        "id": shapes.gid("InventoryItem", item["inventory_item_id"]),
        "tracked": shapes.variant_node(item)["inventoryItem"]["tracked"],
        "variants": connection([item], variant),
        "inventoryLevels": connection(shapes.level_nodes(item), lambda level: level),
    }


def _numeric_id(gid: str) -> int:
    try:
        return int(str(gid).rsplit("/", 1)[-1])
    except ValueError as exc:
        raise GraphQLError(f"Invalid global id '{gid}'") from exc


def _updated_since(items: Iterable[dict], search: str | None) -> list[dict]:
    since = shapes.ts(shapes.search_since(search))
    chosen = [i for i in items if shapes.ts(i.get("updated_at")) >= since]
    return sorted(chosen, key=lambda i: (shapes.ts(i.get("updated_at")), i["id"]))


def root_value(fake: FakeShopify, shop: FakeShop) -> dict:
    """QueryRoot and Mutation fields the app uses, over this shop's data."""

    def products(info: Any, query: str | None = None, **page: Any) -> dict:
        with fake.lock:
            items = _updated_since(list(shop.products.values()), query)
        return connection(items, product)(info, **page)

    def orders(info: Any, query: str | None = None, **page: Any) -> dict:
        with fake.lock:
            items = _updated_since(shop.iter_orders(), query)
        return connection(items, order)(info, **page)

    def product_by_id(info: Any, id: str) -> dict | None:  # noqa: A002  (Shopify's argument name)
        found = shop.products.get(_numeric_id(id))
        return product(found) if found else None

    def order_by_id(info: Any, id: str) -> dict | None:  # noqa: A002
        found = shop.find_order(_numeric_id(id))
        return order(found) if found else None

    def inventory_item_by_id(info: Any, id: str) -> dict | None:  # noqa: A002
        wanted = _numeric_id(id)
        for item in list(shop.products.values()):
            for candidate in item.get("variants") or []:
                if candidate.get("inventory_item_id") == wanted:
                    return inventory_item(candidate)
        return None

    def bulk_operation(info: Any, id: str) -> dict | None:  # noqa: A002
        return fake.bulk_operation_view(shop, id)

    def run_bulk_query(info: Any, query: str, **_: Any) -> dict:
        # graphql-core fills in groupObjects' schema default; only an explicit one overrides the fake's form
        passed = {a.name.value: a.value for a in info.field_nodes[0].arguments or ()}
        group = passed.get("groupObjects")
        explicit = None if group is None else bool(value_from_ast_untyped(group, info.variable_values))
        return fake.run_bulk_query(shop, query, group_objects=explicit)

    return {
        "products": products,
        "product": product_by_id,
        "orders": orders,
        "order": order_by_id,
        "inventoryItem": inventory_item_by_id,
        "bulkOperation": bulk_operation,
        "bulkOperationRunQuery": run_bulk_query,
    }

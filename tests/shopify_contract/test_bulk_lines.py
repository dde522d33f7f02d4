"""The fake's bulk JSONL lines are what Shopify's schema gives for the app's bulk queries.

The fake answers pages by executing the app's documents with graphql-core against
@shopify/dev-mcp's Admin schema, so a page cannot have a field, type or enum value Shopify's
would not. Its bulk files are rendered straight from tests.fakeshopify.shapes (executing half
a million line items through graphql-core would take minutes), and the bulk reader, the COPY
path and the ingest tests all read those files. Here each bulk inner query of
`queries.registry()` is executed against the same schema over the same shop; the result is
flattened the way Shopify documents a bulk query's JSONL
(https://shopify.dev/docs/api/usage/bulk-operations/queries, "Download result data": one line
per node of a connection, the nodes of a nested connection on lines of their own that carry
`__parentId`, written after the object's own fields); and every line the fake serves must
equal its line there, keys in selection order (the GraphQL spec's response order, which the
reader's fast path relies on) and values of the schema's types.

The one rule the docs leave open is which id a connection nested in a plain object names:
`inventoryItem { inventoryLevels }` is flattened here, as in the fake, to lines whose
`__parentId` is the variant (the object of the enclosing line); the reader also accepts the
inventory item's id (tests/ingest/test_bulk_reader.py, "inventory item parent").
"""

from __future__ import annotations

import json
from typing import Any

import graphql
import pytest

from posai_app.shopify import queries
from posai_app.shopify.version import API_VERSION
from tests.fakeshopify import dataset, resolvers
from tests.fakeshopify.server import FakeShopify
from tests.shopify_contract import artifacts

BULK = [d for d in queries.registry() if d.bulk]
RECENT = "2026-06-01T09:30:00Z"  # after registry()'s search (updated_at >= 2026-01-01)


def _levels(*pairs: tuple[int, int]) -> list[dict]:
    return [
        {"location_id": location, "available": available, "updated_at": RECENT}
        for location, available in pairs
    ]


def _products() -> list[dict]:
    """The dataset's products, plus the shapes a real catalogue has that it lacks."""
    products, _ = dataset.small_history(25)
    several = {
        "id": 880001,
        "title": "Mug, three colours",
        "status": "active",
        "product_type": "Kitchen",
        "vendor": "Clayworks",
        "tags": "ceramic, gift ,",
        "updated_at": RECENT,
        "variants": [
            {
                "id": 990001 + n,
                "title": colour,
                "price": price,
                "sku": sku,
                "inventory_item_id": 770001 + n,
                "inventory_quantity": quantity,
                "inventory_management": management,
                "inventory_policy": policy,
                "updated_at": RECENT,
                "inventory_levels": levels,
            }
            for n, (colour, price, sku, quantity, management, policy, levels) in enumerate(
                [
                    ("Blue", "12.50", "MUG-B", 7, "shopify", "deny", _levels((61, 3), (62, 4))),
                    ("Red", "12.50", None, -2, "shopify", "continue", _levels((61, -2))),
                    ("Clay", "0.00", "", 0, None, "deny", []),  # untracked, no levels
                ]
            )
        ],
    }
    archived = {**products[0], "id": 880002, "status": "archived", "updated_at": RECENT}
    archived["variants"] = [
        {**v, "id": 990101, "inventory_item_id": 770101, "inventory_levels": _levels((61, 0))}
        for v in products[0]["variants"]
    ]
    draft_gift_card = {
        **products[1],
        "id": 880003,
        "status": "draft",
        "is_gift_card": True,
        "variants": [],  # a product whose variants are all gone
    }
    return [*products, several, archived, draft_gift_card]


def _orders() -> list[dict]:
    _, orders = dataset.small_history(25)
    line = dict(orders[0]["line_items"][0])
    pos_sale = {
        **orders[0],
        "id": 660001,
        "name": "#POS-1",
        "updated_at": RECENT,
        "source_name": "pos",
        "location_id": 61,
        "currency": "EUR",
        "note_attributes": [{"name": "_posai", "value": "t0ken"}, {"name": "gift", "value": ""}],
        "line_items": [
            {
                **line,
                "id": 550001,
                "quantity": 3,
                "current_quantity": 1,  # two refunded
                "properties": [{"name": "_posai_shown", "value": "1"}],
                "discount_allocations": [{"amount": "1.25"}, {"amount": "0.10"}],
            },
            {  # a custom sale: no variant, no product
                "id": 550002,
                "variant_id": None,
                "product_id": None,
                "title": "Gift wrap",
                "quantity": 1,
                "price": "2.00",
                "sku": None,
            },
        ],
    }
    cancelled = {**orders[1], "id": 660002, "updated_at": RECENT, "cancelled_at": RECENT}
    return [*orders, pos_sale, cancelled, {**orders[2], "id": 660003, "line_items": []}]


@pytest.fixture(scope="module")
def fake_and_shop():
    artifacts.require()
    fake = FakeShopify(api_version=API_VERSION, bulk_polls=0).start()
    fake.load_schema()
    shop = fake.add_shop("bulk-lines.myshopify.com", "token", products=_products(), orders=_orders())
    yield fake, shop
    fake.stop()


def _lines_per_schema(fake: FakeShopify, shop, text: str) -> list[dict]:
    """The inner query executed against Shopify's schema, flattened as Shopify writes JSONL."""
    document = graphql.parse(text)
    assert not graphql.validate(fake.schema, document)
    result = graphql.execute_sync(
        fake.schema, document, root_value=resolvers.root_value(fake, shop), context_value={"bulk": True}
    )
    assert result.errors is None, [e.formatted for e in result.errors]
    (root,) = result.data.values()
    lines: list[dict] = []
    for edge in root["edges"]:
        _flatten(edge["node"], None, lines)
    return lines


def _is_connection(value: Any) -> bool:
    return isinstance(value, dict) and "edges" in value


def _flatten(node: dict, parent_id: str | None, lines: list[dict]) -> None:
    """`node` as one line, then the nodes of every connection inside it as lines of their own
    (depth first: the grouped form), naming this line's object as their `__parentId`."""
    nested: list[dict] = []
    own = _without_connections(node, nested)
    if parent_id is not None:
        own["__parentId"] = parent_id
    lines.append(own)
    for child in nested:
        _flatten(child, node["id"], lines)


def _without_connections(value: dict, nested: list[dict]) -> dict:
    """A copy of `value` without its connections (at any depth of plain objects), whose nodes
    are appended to `nested` in selection order."""
    kept = {}
    for key, field_value in value.items():
        if _is_connection(field_value):
            nested.extend(edge["node"] for edge in field_value["edges"])
        elif isinstance(field_value, dict):
            kept[key] = _without_connections(field_value, nested)
        else:
            kept[key] = field_value
    return kept


def _fake_lines(fake: FakeShopify, shop, text: str) -> tuple[list[dict], dict]:
    answer = fake.run_bulk_query(shop, text, group_objects=True)
    assert answer["userErrors"] == []
    op = shop.bulk_ops[-1]
    view = fake.bulk_operation_view(shop, op.id)  # the poll that completes it (bulk_polls=0)
    assert view["status"] == "COMPLETED"
    lines = [json.loads(line) for line in fake.bulk_lines(shop, op)]
    return lines, {key: int(view[key]) for key in ("objectCount", "rootObjectCount")}


def _by_root(lines: list[dict]) -> dict[str, list[str]]:
    """Grouped lines per top-level object (each as its JSON text, so key order counts); the
    order of top-level objects in a bulk file is not specified."""
    groups: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if "__parentId" not in line:
            current = groups.setdefault(line["id"], [])
        current.append(json.dumps(line))
    return groups


@pytest.mark.parametrize("document", BULK, ids=[d.name for d in BULK])
def test_fake_bulk_lines_equal_the_schema_execution(fake_and_shop, document):
    fake, shop = fake_and_shop
    expected = _lines_per_schema(fake, shop, document.text)
    served, counts = _fake_lines(fake, shop, document.text)

    # the shop's data reach this query: several objects, with children (the search keeps two orders)
    roots = sum("__parentId" not in line for line in expected)
    assert roots >= 2 and len(expected) > roots
    assert _by_root(served) == _by_root(expected)
    assert counts == {
        "objectCount": len(expected),
        "rootObjectCount": sum("__parentId" not in line for line in expected),
    }


def test_the_shapes_reach_every_nesting(fake_and_shop):
    """The comparison covers grandchildren (levels) and lines whose nested objects are null."""
    fake, shop = fake_and_shop
    products = _lines_per_schema(fake, shop, queries.BULK_PRODUCTS)
    levels = [line for line in products if line["id"].startswith("gid://shopify/InventoryLevel/")]
    assert {line["__parentId"] for line in levels} >= {"gid://shopify/ProductVariant/990001"}
    orders = _lines_per_schema(fake, shop, queries.bulk_orders())
    custom = next(line for line in orders if line["id"] == "gid://shopify/LineItem/550002")
    assert custom["variant"] is None and custom["product"] is None


def test_a_field_the_fake_adds_is_caught(fake_and_shop):
    """The comparison fails when a served line has a field the selection does not ask for."""
    fake, shop = fake_and_shop
    expected = _lines_per_schema(fake, shop, queries.bulk_orders())
    served, _ = _fake_lines(fake, shop, queries.bulk_orders())
    served[1] = {**served[1], "extra": 1}
    assert _by_root(served) != _by_root(expected)

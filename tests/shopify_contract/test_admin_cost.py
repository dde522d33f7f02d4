"""posai_app.shopify.cost against figures worked out by hand from Shopify's documented rules.

https://shopify.dev/docs/api/usage/limits#cost-calculation: scalar/enum 0, object 1,
connection 2 + first × one node, interface/union the maximum of its possible types,
mutation 10. Line item node here: itself 1 + variant 1 + product 1 + originalUnitPriceSet 1
+ shopMoney 1 + customAttributes 1 + discountAllocations 1 + allocatedAmountSet 1 + shopMoney 1
= 9 (a list of objects costs 1, like one object); variant node: itself 1 + inventoryItem 1 = 2;
order node: itself 1 + retailLocation 1 + customAttributes 1 = 3.
"""

from __future__ import annotations

import pytest

from posai_app.shopify import cost, queries
from posai_app.shopify.version import API_VERSION
from tests.shopify_contract import artifacts

LINE_ITEMS = f"lineItems(first: 100) {{ edges {{ node {{ {queries.LINE_ITEM_FIELDS} }} }} }}"


@pytest.fixture(scope="module")
def schema():
    return artifacts.admin_schema(API_VERSION)


def price(schema, text, variables=None):
    return cost.query_cost(schema, text, variables)


def test_scalars_are_free_and_objects_cost_one(schema):
    assert price(schema, "{ shop { id name currencyCode } }") == 1
    assert price(schema, "{ shop { id billingAddress { city } } }") == 2


def test_a_connection_costs_two_plus_first_nodes_and_page_info_is_free(schema):
    text = "query($n: Int!) { products(first: $n) { pageInfo { hasNextPage } edges { cursor node { id } } } }"
    assert price(schema, text, {"n": 10}) == 2 + 10 * 1
    assert price(schema, "{ products(last: 7) { nodes { id title } } }") == 2 + 7


def test_nested_connections_multiply(schema):
    # Yesterday's catch-up pages, 100 per page with 100 nested children (today's line items):
    text = f"{{ orders(first: 100) {{ edges {{ node {{ id {LINE_ITEMS} }} }} }} }}"
    assert price(schema, text) == 2 + 100 * (1 + 2 + 100 * 9) == 90_302
    products = (
        "{ products(first: 100) { edges { node { id variants(first: 100) "
        f"{{ edges {{ node {{ {queries.VARIANT_SCALARS} inventoryItem {{ id tracked }} }} }} }} }} }} }} }}"
    )
    assert price(schema, products) == 2 + 100 * (1 + 2 + 100 * 2) == 20_302
    line_items = f'{{ order(id: "gid://shopify/Order/1") {{ {LINE_ITEMS.replace("100", "250")} }} }}'
    assert price(schema, line_items) == 1 + 2 + 250 * 9 == 2_253


def test_interfaces_cost_their_most_expensive_possible_type(schema):
    text = """{ node(id: "gid://shopify/Order/1") {
      ... on Order { id customer { id } }
      ... on Product { id featuredMedia { id } options { id } }
    } }"""
    assert price(schema, text) == 1 + 2  # Product's two objects beat Order's one


def test_fragments_count_like_inline_selections(schema):
    text = "query { shop { ...S } } fragment S on Shop { id billingAddress { city } }"
    assert price(schema, text) == 2


def test_mutations_cost_ten(schema):
    assert price(schema, queries.RUN_BULK_QUERY, {"query": "{ shop { id } }"}) == 10


def test_the_apps_pages_at_their_real_sizes(schema):
    figures = {d.name: price(schema, d.text, d.variables) for d in queries.registry() if not d.bulk}
    assert figures == {
        "BulkOperationRunQuery": 10,
        "BulkOperation": 1,
        # a variant with its first 3 levels: variant, item, levels 2 + 3 × (level, location, quantities)
        "ProductsPage": 2 + 8 * (1 + 2 + 8 * (2 + 2 + 3 * 3)),  # 858
        "ProductVariantsPage": 1 + 2 + 70 * (2 + 2 + 3 * 3),  # 913
        "InventoryItemLevelsPage": 1 + 2 + 250 * 3,  # 753
        "ComplementaryProductsPage": 2 + 250 * (1 + 1),  # 502
        "OrdersPage": 2 + 10 * (3 + 2 + 10 * 9),  # 952
        "OrderLineItemsPage": 1 + 2 + 110 * 9,  # 993
        "InventoryItemVariant": 1 + 2 + 1 * 1,  # 4
    }


def test_actual_cost_counts_the_nodes_returned(schema):
    text = (
        "{ orders(first: 10) { edges { node { id lineItems(first: 5) { nodes { id variant { id } } } } } } }"
    )
    assert price(schema, text) == 2 + 10 * (1 + 2 + 5 * 2)
    one_item = {"nodes": [{"id": "L1", "variant": {"id": "V1"}}]}
    no_items_no_variant = {"nodes": [{"id": "L2", "variant": None}]}
    data = {
        "orders": {
            "edges": [
                {"node": {"id": "O1", "lineItems": one_item}},
                {"node": {"id": "O2", "lineItems": no_items_no_variant}},
            ]
        }
    }
    # 2 + order (1 + lineItems 2 + item 1 + variant 1) + order (1 + 2 + item 1, no variant)
    assert cost.actual_cost(schema, text, data) == 2 + (1 + 2 + 2) + (1 + 2 + 1)


def test_a_connection_without_a_page_size_cannot_be_priced(schema):
    with pytest.raises(cost.CostError, match="first"):
        price(schema, "{ products { edges { node { id } } } }")

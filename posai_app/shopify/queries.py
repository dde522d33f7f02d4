"""Every GraphQL document POSAI sends to the Admin API, with the page sizes it sends them at.

`registry()` lists them all (bulk inner queries and their search variants included) with
the variables the code really passes; tests/shopify_contract/test_admin_documents.py
validates each one against the pinned version's schema, rejects deprecated fields and
scopes shopify.app.toml does not request, and prices each with `shopify.cost` against
Shopify's single-query limit of 1,000 points.

Page sizes are chosen so each page stays under that limit by Shopify's documented rules
(a connection costs 2 + first × one node; nested connections multiply):
https://shopify.dev/docs/api/usage/limits#cost-calculation
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PRODUCT_FIELDS = "id title status isGiftCard updatedAt productType vendor tags"
VARIANT_SCALARS = "id title price sku inventoryQuantity inventoryPolicy updatedAt"
# One location's stock: InventoryLevel.quantities is read by name ("available" is what POS sells from).
LEVEL_FIELDS = 'id updatedAt location { id } quantities(names: ["available"]) { name quantity }'
# Bulk: every level of every variant (Shopify writes them as lines whose __parentId is the variant).
VARIANT_FIELDS = (
    f"{VARIANT_SCALARS} inventoryItem {{ id tracked"
    f" inventoryLevels {{ edges {{ node {{ {LEVEL_FIELDS} }} }} }} }}"
)
# Pages: the first LEVELS_PER_ITEM levels; an item stocked at more locations is followed with
# INVENTORY_ITEM_LEVELS_PAGE.
VARIANT_PAGE_FIELDS = (
    f"{VARIANT_SCALARS} inventoryItem {{ id tracked inventoryLevels(first: $levelFirst) {{"
    f" pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {LEVEL_FIELDS} }} }} }} }}"
)
# sourceName, retailLocation and the `_posai` attributes (cart and line-item properties) are for
# measured impact (posai_app.impact.attribution); Order.staffMember would need `read_users`.
ORDER_FIELDS = (
    "id name createdAt updatedAt cancelledAt currencyCode sourceName retailLocation { id } "
    "customAttributes { key value }"
)
LINE_ITEM_FIELDS = (
    "id title quantity currentQuantity sku variant { id } product { id } "
    "originalUnitPriceSet { shopMoney { amount currencyCode } } customAttributes { key value } "
    "discountAllocations { allocatedAmountSet { shopMoney { amount } } }"
)

# ---- page sizes (cost at these sizes, by shopify.cost: see docs/ingestion.md "Query cost")

# A variant with its first 3 levels costs 13 points (variant, item, levels connection 2, and
# 3 × (level, location, quantities)); products and variants per page shrink to fit.
PRODUCTS_PER_PAGE = 8  # 2 + 8 × (product 1 + variants 2 + 8 × 13) = 858 points
VARIANTS_PER_PRODUCT = 8  # products with more are followed with PRODUCT_VARIANTS_PAGE
LEVELS_PER_ITEM = 3  # items stocked at more locations are followed with INVENTORY_ITEM_LEVELS_PAGE
VARIANTS_PER_PAGE = 70  # 1 + 2 + 70 × 13 = 913 points
LEVELS_PER_PAGE = 250  # Shopify's maximum `first`; 1 + 2 + 250 × 3 = 753 points
DISCOVERY_PRODUCTS_PER_PAGE = 250  # 2 + 250 × (product 1 + metafield 1) = 502 points
ORDERS_PER_PAGE = 10  # × (order 3 + lineItems 2 + 10 × 9) = 952 points
LINE_ITEMS_PER_ORDER = 10  # orders with more are followed with ORDER_LINE_ITEMS_PAGE
LINE_ITEMS_PER_PAGE = 110  # 1 + 2 + 110 × 9 = 993 points
INVENTORY_ITEM_VARIANTS = 1  # an inventory item belongs to exactly one variant

# ---- bulk operations: the inner queries (no `first`, no pagination; Shopify streams everything)

BULK_PRODUCTS = f"""{{
  products {{
    edges {{ node {{
      {PRODUCT_FIELDS}
      variants {{ edges {{ node {{ {VARIANT_FIELDS} }} }} }}
    }} }}
  }}
}}"""


def bulk_orders(search: str | None = None) -> str:
    """The bulk query for every order (optionally filtered by a search string) with line items."""
    # json.dumps quotes and escapes the search the way a GraphQL string literal needs.
    argument = f"(query: {json.dumps(search)})" if search else ""
    return f"""{{
  orders{argument} {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems {{ edges {{ node {{ {LINE_ITEM_FIELDS} }} }} }}
    }} }}
  }}
}}"""


# groupObjects is left at the version's default (false from 2026-01): the reader joins
# children wherever they are in the file, and grouping makes Shopify's side slower.
RUN_BULK_QUERY = """mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message code }
  }
}"""

BULK_OPERATION_FIELDS = "id status errorCode createdAt completedAt objectCount fileSize url partialDataUrl"

BULK_OPERATION = f"""query BulkOperation($id: ID!) {{
  bulkOperation(id: $id) {{ {BULK_OPERATION_FIELDS} }}
}}"""

# ---- paginated catch-up queries

PRODUCTS_PAGE = f"""query ProductsPage(
  $first: Int!, $childFirst: Int!, $levelFirst: Int!, $after: String, $query: String
) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      {PRODUCT_FIELDS}
      variants(first: $childFirst) {{
        pageInfo {{ hasNextPage endCursor }}
        edges {{ node {{ {VARIANT_PAGE_FIELDS} }} }}
      }}
    }} }}
  }}
}}"""

PRODUCT_VARIANTS_PAGE = f"""query ProductVariantsPage(
  $id: ID!, $first: Int!, $levelFirst: Int!, $after: String
) {{
  product(id: $id) {{
    variants(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ {VARIANT_PAGE_FIELDS} }} }}
    }}
  }}
}}"""

INVENTORY_ITEM_LEVELS_PAGE = f"""query InventoryItemLevelsPage($id: ID!, $first: Int!, $after: String) {{
  inventoryItem(id: $id) {{
    inventoryLevels(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ {LEVEL_FIELDS} }} }}
    }}
  }}
}}"""

# Search & Discovery's complementary products ("Pairs well with"): a standard product
# metafield of type list.product_reference (a JSON list of Product GIDs), readable with
# read_products. Namespace and key as Shopify reserves them for the Search & Discovery app:
# the standard definition "Complementary products" in Shopify's list of standard metafield
# definitions (https://shopify.dev/docs/apps/build/custom-data/metafields/list-of-standard-definitions)
# and the column Shopify's product CSV export names "Complementary products
# (product.metafields.shopify--discovery--product_recommendation.complementary_products)";
# Product.metafield(namespace:, key:) and Metafield.value are checked against the pinned
# schema by tests/shopify_contract/test_admin_documents.py.
DISCOVERY_NAMESPACE = "shopify--discovery--product_recommendation"
DISCOVERY_COMPLEMENTARY_KEY = "complementary_products"

COMPLEMENTARY_PRODUCTS_PAGE = """query ComplementaryProductsPage(
  $first: Int!, $after: String, $namespace: String!, $key: String!
) {
  products(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node {
      id
      complementaryProducts: metafield(namespace: $namespace, key: $key) { value }
    } }
  }
}"""

ORDERS_PAGE = f"""query OrdersPage($first: Int!, $childFirst: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems(first: $childFirst) {{
        pageInfo {{ hasNextPage endCursor }}
        edges {{ node {{ {LINE_ITEM_FIELDS} }} }}
      }}
    }} }}
  }}
}}"""

ORDER_LINE_ITEMS_PAGE = f"""query OrderLineItemsPage($id: ID!, $first: Int!, $after: String) {{
  order(id: $id) {{
    lineItems(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ {LINE_ITEM_FIELDS} }} }}
    }}
  }}
}}"""

# InventoryItem.variant is deprecated from 2026-01 ("Use `variants` instead").
INVENTORY_ITEM_VARIANT = """query InventoryItemVariant($id: ID!, $first: Int!) {
  inventoryItem(id: $id) {
    id
    tracked
    variants(first: $first) { edges { node { id inventoryQuantity } } }
  }
}"""


# ---- the registry


@dataclass(frozen=True)
class Document:
    """One document the app sends, with variables as the code sends them.

    `bulk` documents are inner queries of BulkOperationRunQuery: sent as its `query`
    variable, validated by Shopify as queries, never priced by the single-query limit.
    """

    name: str
    text: str
    variables: dict[str, Any] = field(default_factory=dict)
    bulk: bool = False


_SEARCH = "updated_at:>='2026-01-01T00:00:00Z'"  # the shape of the catch-up filter (ingest.sync)
_ID = {
    "product": "gid://shopify/Product/1",
    "order": "gid://shopify/Order/1",
    "item": "gid://shopify/InventoryItem/1",
    "bulk": "gid://shopify/BulkOperation/1",
}


def products_page_variables(after: str | None, search: str | None) -> dict[str, Any]:
    return {
        "first": PRODUCTS_PER_PAGE,
        "childFirst": VARIANTS_PER_PRODUCT,
        "levelFirst": LEVELS_PER_ITEM,
        "after": after,
        "query": search,
    }


def complementary_products_variables(after: str | None) -> dict[str, Any]:
    return {
        "first": DISCOVERY_PRODUCTS_PER_PAGE,
        "after": after,
        "namespace": DISCOVERY_NAMESPACE,
        "key": DISCOVERY_COMPLEMENTARY_KEY,
    }


def orders_page_variables(after: str | None, search: str | None) -> dict[str, Any]:
    return {"first": ORDERS_PER_PAGE, "childFirst": LINE_ITEMS_PER_ORDER, "after": after, "query": search}


def registry() -> list[Document]:
    """Every document the app can send, at the variables it sends it with."""
    return [
        Document("BulkProducts", BULK_PRODUCTS, bulk=True),
        Document("BulkOrders", bulk_orders(), bulk=True),
        Document("BulkOrdersSearch", bulk_orders(_SEARCH), bulk=True),
        Document("BulkOperationRunQuery", RUN_BULK_QUERY, {"query": bulk_orders()}),
        Document("BulkOperation", BULK_OPERATION, {"id": _ID["bulk"]}),
        Document("ProductsPage", PRODUCTS_PAGE, products_page_variables("cursor", _SEARCH)),
        Document(
            "ProductVariantsPage",
            PRODUCT_VARIANTS_PAGE,
            {
                "id": _ID["product"],
                "first": VARIANTS_PER_PAGE,
                "levelFirst": LEVELS_PER_ITEM,
                "after": "cursor",
            },
        ),
        Document(
            "InventoryItemLevelsPage",
            INVENTORY_ITEM_LEVELS_PAGE,
            {"id": _ID["item"], "first": LEVELS_PER_PAGE, "after": "cursor"},
        ),
        Document(
            "ComplementaryProductsPage",
            COMPLEMENTARY_PRODUCTS_PAGE,
            complementary_products_variables("cursor"),
        ),
        Document("OrdersPage", ORDERS_PAGE, orders_page_variables("cursor", _SEARCH)),
        Document(
            "OrderLineItemsPage",
            ORDER_LINE_ITEMS_PAGE,
            {"id": _ID["order"], "first": LINE_ITEMS_PER_PAGE, "after": "cursor"},
        ),
        Document(
            "InventoryItemVariant",
            INVENTORY_ITEM_VARIANT,
            {"id": _ID["item"], "first": INVENTORY_ITEM_VARIANTS},
        ),
    ]

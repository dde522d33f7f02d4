"""The GraphQL documents POSAI sends to the Admin API (one place to review scopes and cost)."""

from __future__ import annotations

PRODUCT_FIELDS = "id title status isGiftCard updatedAt"
VARIANT_FIELDS = "id title price sku inventoryQuantity inventoryPolicy updatedAt inventoryItem { id tracked }"
ORDER_FIELDS = "id name createdAt updatedAt cancelledAt currencyCode"
LINE_ITEM_FIELDS = (
    "id title quantity currentQuantity sku variant { id } product { id } "
    "originalUnitPriceSet { shopMoney { amount currencyCode } }"
)

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
    argument = f'(query: "{search}")' if search else ""
    return f"""{{
  orders{argument} {{
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems {{ edges {{ node {{ {LINE_ITEM_FIELDS} }} }} }}
    }} }}
  }}
}}"""


RUN_BULK_QUERY = """mutation BulkOperationRunQuery($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""

BULK_OPERATION_FIELDS = "id status errorCode createdAt completedAt objectCount fileSize url partialDataUrl"

CURRENT_BULK_OPERATION = f"""query CurrentBulkOperation {{
  currentBulkOperation(type: QUERY) {{ {BULK_OPERATION_FIELDS} }}
}}"""

BULK_OPERATION = f"""query BulkOperation($id: ID!) {{
  node(id: $id) {{ ... on BulkOperation {{ {BULK_OPERATION_FIELDS} }} }}
}}"""

CANCEL_BULK_OPERATION = """mutation BulkOperationCancel($id: ID!) {
  bulkOperationCancel(id: $id) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""

# ---- paginated catch-up queries

PRODUCTS_PAGE = f"""query ProductsPage($first: Int!, $after: String, $query: String) {{
  products(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      {PRODUCT_FIELDS}
      variants(first: 100) {{
        pageInfo {{ hasNextPage endCursor }}
        edges {{ node {{ {VARIANT_FIELDS} }} }}
      }}
    }} }}
  }}
}}"""

PRODUCT_VARIANTS_PAGE = f"""query ProductVariantsPage($id: ID!, $first: Int!, $after: String) {{
  product(id: $id) {{
    variants(first: $first, after: $after) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ {VARIANT_FIELDS} }} }}
    }}
  }}
}}"""

ORDERS_PAGE = f"""query OrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{
      {ORDER_FIELDS}
      lineItems(first: 100) {{
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

ORDER_BY_ID = f"""query OrderById($id: ID!) {{
  order(id: $id) {{
    {ORDER_FIELDS}
    lineItems(first: 100) {{
      pageInfo {{ hasNextPage endCursor }}
      edges {{ node {{ {LINE_ITEM_FIELDS} }} }}
    }}
  }}
}}"""

INVENTORY_ITEM_VARIANT = """query InventoryItemVariant($id: ID!) {
  inventoryItem(id: $id) {
    id
    tracked
    variant { id inventoryQuantity }
  }
}"""

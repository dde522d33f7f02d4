"""The webhook topics POSAI subscribes to (shopify.app.toml must list exactly these)."""

from __future__ import annotations

# Data topics: keep orders, products and stock current between syncs.
DATA_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "orders/delete",
    "products/create",
    "products/update",
    "products/delete",
    "inventory_levels/update",
    # Whether stock is tracked: product webhooks stopped saying in API 2024-07. A new
    # variant's item is announced by inventory_items/create (usually before products/create).
    "inventory_items/create",
    "inventory_items/update",
    "app/uninstalled",
    "bulk_operations/finish",
)

# Mandatory privacy-compliance topics (configured as compliance_topics in shopify.app.toml).
COMPLIANCE_TOPICS = (
    "customers/data_request",
    "customers/redact",
    "shop/redact",
)

HANDLED_TOPICS = DATA_TOPICS + COMPLIANCE_TOPICS

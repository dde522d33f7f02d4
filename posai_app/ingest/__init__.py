"""What Shopify's data becomes in POSAI's tables: products, variants and order line items.

`sync` reads them from the Admin API (a bulk operation first, then catch-up pages; nightly
reconciliation), webhooks (posai_app.webhooks.handlers) deliver changes in between; both end
in the same guarded writers, `orders` and `products` (machinery in `upserts`), so any order of
deliveries ends in the rows Shopify's newest payloads describe. `parse` turns REST and GraphQL
shapes into the writers' dicts; `sync_state`, `summary` and `catalog` read progress, counts
and the stored catalog back for the admin page and the CLI.
"""

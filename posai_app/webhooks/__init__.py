"""Shopify webhooks: one endpoint, POST /webhooks, routed by X-Shopify-Topic."""

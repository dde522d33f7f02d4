"""The Admin API version POSAI speaks, defined once.

The Admin client's URL (config `SHOPIFY_API_VERSION` defaults to it), the webhook
subscriptions' `api_version` in shopify.app.toml and the test fake all use this value;
tests/shopify_contract/test_admin_version.py fails when one of them disagrees. 2026-10 is
the newest stable version (https://shopify.dev/docs/api/usage/versioning): Shopify supports
each version for at least 12 months and serves a retired one as the oldest supported.
"""

from __future__ import annotations

API_VERSION = "2026-10"

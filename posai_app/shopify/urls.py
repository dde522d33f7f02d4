"""Where a shop's Admin endpoints live.

Production: https://{shop_domain}. Tests set SHOPIFY_ADMIN_BASE_URL (e.g.
"http://127.0.0.1:8765/{shop}") to reach a local fake over a real socket; the
calling code is identical either way.
"""

from __future__ import annotations

from flask import current_app


def shop_base_url(shop_domain: str) -> str:
    """Base URL for a shop's admin endpoints, without a trailing slash."""
    template = current_app.config.get("SHOPIFY_ADMIN_BASE_URL")
    if template:
        return template.format(shop=shop_domain).rstrip("/")
    return f"https://{shop_domain}"


def admin_graphql_url(shop_domain: str) -> str:
    version = current_app.config["SHOPIFY_API_VERSION"]
    return f"{shop_base_url(shop_domain)}/admin/api/{version}/graphql.json"


def oauth_token_url(shop_domain: str) -> str:
    return f"{shop_base_url(shop_domain)}/admin/oauth/access_token"

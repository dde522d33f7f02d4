"""Content-Security-Policy frame-ancestors: only the shop's admin may frame our pages."""

from __future__ import annotations

from flask import Response, g, request

from posai_app.auth.domains import is_valid_shop_domain

FALLBACK_ANCESTORS = "https://admin.shopify.com https://*.myshopify.com"


def frame_ancestors(shop_domain: str | None) -> str:
    """The frame-ancestors source list for a shop, or the Shopify-wide fallback when it is unknown."""
    if shop_domain and is_valid_shop_domain(shop_domain):
        return f"https://{shop_domain} https://admin.shopify.com"
    return FALLBACK_ANCESTORS


def set_frame_ancestors(response: Response) -> Response:
    # The verified shop when @shop_required ran; else the `shop` query Shopify adds when it
    # loads an embedded page (only ever used to narrow framing, never to pick data).
    shop_domain = g.get("shop_domain") or request.args.get("shop")
    directive = "frame-ancestors " + frame_ancestors(shop_domain)
    existing = response.headers.get("Content-Security-Policy")
    if not existing:
        response.headers["Content-Security-Policy"] = directive
    elif "frame-ancestors" not in existing:
        response.headers["Content-Security-Policy"] = existing.rstrip("; ") + "; " + directive
    return response

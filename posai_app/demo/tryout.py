"""What `posai demo` prints: the admin page URL, the API URL and a ready-to-copy curl."""

from __future__ import annotations

import json
import shlex

import sqlalchemy as sa
from flask import current_app

from posai_app.demo import DEMO_SHOP_DOMAIN
from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.tenancy import of_shop

CURL_TOKEN_TTL_SECONDS = 3600


def sample_cart(shop_id: int, size: int = 3, scan_lines: int = 5_000) -> list[int]:
    """A real cart: the first `size` sellable items of the most recent order that has that many."""
    sellable = set(
        db.session.scalars(
            sa.select(ProductVariant.variant_id).where(
                of_shop(ProductVariant, shop_id),
                ProductVariant.status == "active",
                ProductVariant.deleted_at.is_(None),
                ProductVariant.is_gift_card.is_(False),
            )
        )
    )
    # Newest line items first, through the (shop_id, created_at) index; no aggregation in SQL.
    rows = db.session.execute(
        sa.select(OrderLineItem.order_id, OrderLineItem.variant_id)
        .where(of_shop(OrderLineItem, shop_id), OrderLineItem.variant_id.is_not(None))
        .order_by(OrderLineItem.created_at.desc(), OrderLineItem.order_id.desc(), OrderLineItem.line_item_id)
        .limit(scan_lines)
    ).all()
    carts: dict[int, list[int]] = {}
    for order_id, variant_id in rows:
        cart = carts.setdefault(order_id, [])
        if variant_id in sellable and variant_id not in cart:
            cart.append(variant_id)
    for cart in carts.values():  # dicts keep insertion order: newest order first
        if len(cart) >= size:
            return cart[:size]
    return []


def describe_tryout(shop_id: int, port: int) -> str:
    from posai_app.admin.demo import mint_demo_session_token
    from posai_app.api.recommendations import recommend_for_cart

    base = f"http://127.0.0.1:{port}"
    cart = sample_cart(shop_id)
    token = mint_demo_session_token(current_app.config, DEMO_SHOP_DOMAIN, ttl=CURL_TOKEN_TTL_SECONDS)
    body = json.dumps({"cartVariantIds": [str(v) for v in cart]})
    curl = shlex.join(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            f"{base}/api/recommendations",
            "-H",
            f"Authorization: Bearer {token}",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ]
    )
    answer = recommend_for_cart(shop_id, cart)
    titles = {
        v.variant_id: v.product_title
        for v in db.session.scalars(
            sa.select(ProductVariant).where(
                of_shop(ProductVariant, shop_id), ProductVariant.variant_id.in_(cart)
            )
        )
    }
    lines = [
        "",
        f"admin page : {base}/app?shop={DEMO_SHOP_DOMAIN}",
        f"API        : POST {base}/api/recommendations",
        "cart       : " + "; ".join(f"{v} {titles.get(v, '')}" for v in cart),
        "expected   : "
        + "; ".join(
            f"{r['variantId']} {r['productTitle']} ({r['source']})" for r in answer["recommendations"]
        ),
        f"try it (token valid {CURL_TOKEN_TTL_SECONDS // 60} min; "
        f"`posai mint-session-token {DEMO_SHOP_DOMAIN}` for a fresh one):",
        curl,
        "",
    ]
    return "\n".join(lines)

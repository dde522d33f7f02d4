"""`@shop_required`: the one way a view learns which shop is calling.

The shop comes only from a verified session token's `dest`, never from a query parameter
or the body. A verified token for a shop without a usable offline token (new shop, one
that reinstalled, or one whose refresh token was refused) is exchanged first: that is
Shopify's managed install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, g, request

from posai_app.auth import tokens
from posai_app.auth.session_token import SessionTokenError, verify_session_token
from posai_app.errors import Unauthorized
from posai_app.extensions import db
from posai_app.models import Shop
from posai_app.shops.lifecycle import install_shop
from posai_app.shops.snapshot import snapshot_for_domain, token_usable

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# 401 reasons that a fresh session token can cure: document loads are bounced through App
# Bridge for one, fetches retry with one (X-Shopify-Retry-Invalid-Session-Request). Shopify's
# `invalid_subject_token` is one of them: shopify-app-js answers it exactly like an invalid
# JWT (shopify-app-express src/middlewares/perform-token-exchange.ts, shopify-app-react-router
# src/server/authenticate/admin/strategies/token-exchange.ts → respondToInvalidSessionToken
# with retryRequest; https://github.com/Shopify/shopify-app-js). Others (a forged token, an
# uninstalled shop) would bounce forever.
FRESH_TOKEN_CURES = frozenset({"expired", "missing_token", "token_exchange_rejected"})


def fresh_token_may_cure(exc: Unauthorized) -> bool:
    """True when the refusal is one a new session token from App Bridge can fix."""
    return (exc.details or {}).get("reason") in FRESH_TOKEN_CURES


def _request_session_token() -> str:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(
                "Authorization must be a Bearer session token", details={"reason": "malformed"}
            )
        return value.strip()
    # Shopify opens embedded pages with ?id_token=...; API calls must use the header.
    if request.method in ("GET", "HEAD") and not request.path.startswith("/api/"):
        if id_token := request.args.get("id_token"):
            return id_token
    raise Unauthorized("A session token is required", details={"reason": "missing_token"})


def _has_usable_token(shop: Shop) -> bool:
    return token_usable(
        shop.is_installed,
        shop.needs_reauth,
        bool(shop.access_token),
        tokens.aware(shop.access_token_expires_at),
        tokens.aware(shop.refresh_token_expires_at),
    )


def authenticate_request() -> int:
    """Verify the request's session token, install the shop by token exchange if needed; the shop's id.

    The shop is read from the per-process snapshot cache (no query on a warm path); the ORM
    row is loaded only when a view asks for current_shop().
    """
    token = _request_session_token()
    try:
        claims = verify_session_token(token, current_app.config)
    except SessionTokenError as exc:
        raise Unauthorized(exc.message, details={"reason": exc.reason}) from None
    shop_domain = claims["shop_domain"]
    snapshot = snapshot_for_domain(shop_domain)
    if snapshot is not None and snapshot.token_usable():
        shop_id = snapshot.id
    else:
        shop = _install_by_token_exchange(shop_domain, token)
        g.shop = shop
        shop_id = shop.id
    g.shop_id = shop_id
    g.shop_domain = shop_domain
    g.session_token_claims = claims
    return shop_id


def _install_by_token_exchange(shop_domain: str, token: str) -> Shop:
    with tokens.exchange_lock(shop_domain):
        # Another request may have installed the shop while we waited: read it afresh.
        db.session.commit()  # ends our read transaction (SQLite snapshots); nothing is pending here
        shop = db.session.scalar(
            sa.select(Shop).where(Shop.domain == shop_domain).execution_options(populate_existing=True)
        )
        if shop is not None and _has_usable_token(shop):
            return shop
        was_uninstalled = shop is not None and shop.uninstalled_at is not None
        try:
            token_response = tokens.exchange_session_token(shop_domain, token)
        except tokens.TokenRequestFailed:
            if was_uninstalled:  # as far as we know the app is gone from that shop: answer as Shopify would
                raise Unauthorized(
                    "This shop has uninstalled the app", details={"reason": "uninstalled"}
                ) from None
            raise
        return install_shop(shop_domain, token_response)


def shop_required(view: F) -> F:
    """Require a valid session token; the calling shop is then current_shop() / current_shop_id()."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate_request()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_shop() -> Shop:
    """The shop authenticated by @shop_required for this request (its ORM row, loaded on first use)."""
    shop = g.get("shop")
    if shop is None:
        shop_id = current_shop_id()
        shop = db.session.get(Shop, shop_id)
        if shop is None:  # deleted (shop/redact) while this request was running
            raise Unauthorized("This shop is no longer installed", details={"reason": "uninstalled"})
        g.shop = shop
    return shop


def current_shop_id() -> int:
    """The id of the shop authenticated by @shop_required for this request."""
    shop_id = g.get("shop_id")
    if shop_id is None:
        raise RuntimeError("current_shop() outside a @shop_required view")
    return shop_id

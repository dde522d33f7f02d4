"""`@shop_required`: the one way a view learns which shop is calling.

The shop comes only from a verified session token's `dest`, never from a query parameter
or the body. A verified token for a shop without a usable offline token (new shop, one
that reinstalled, or one whose refresh token was refused) is exchanged first: that is
Shopify's managed install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, g, request

from posai_app.auth import services, tokens
from posai_app.auth.session_token import SessionTokenError, verify_session_token
from posai_app.errors import Unauthorized
from posai_app.extensions import db
from posai_app.models import Shop

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


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
    if not shop.is_installed or shop.needs_reauth or not shop.access_token:
        return False
    refresh_expires = tokens.aware(shop.refresh_token_expires_at)
    access_expires = tokens.aware(shop.access_token_expires_at)
    now = datetime.now(UTC)
    # Both tokens dead: a refresh cannot succeed, but an exchange of this session token can.
    return not (refresh_expires and access_expires and refresh_expires <= now and access_expires <= now)


def authenticate_request() -> Shop:
    """Verify the request's session token, install the shop by token exchange if needed, set g.shop."""
    token = _request_session_token()
    try:
        claims = verify_session_token(token, current_app.config)
    except SessionTokenError as exc:
        raise Unauthorized(exc.message, details={"reason": exc.reason}) from None
    shop_domain = claims["shop_domain"]
    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain))
    if shop is None or not _has_usable_token(shop):
        shop = _install_by_token_exchange(shop_domain, token)
    g.shop = shop
    g.shop_domain = shop.domain
    g.session_token_claims = claims
    return shop


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
        return services.install_shop(shop_domain, token_response)


def shop_required(view: F) -> F:
    """Require a valid session token; the calling shop is then current_shop() / current_shop_id()."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        authenticate_request()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def current_shop() -> Shop:
    """The shop authenticated by @shop_required for this request."""
    shop = g.get("shop")
    if shop is None:
        raise RuntimeError("current_shop() outside a @shop_required view")
    return shop


def current_shop_id() -> int:
    """The id of the shop authenticated by @shop_required for this request."""
    return current_shop().id

"""Offline access tokens: token exchange, refresh (one refresher per shop), and the getter jobs use.

The only module (with oauth.py) that talks to Shopify's token endpoint. Token exchange and
refresh go through shopifyapp; its requests always target `https://{shop}`, so they are sent
through an httpx transport that maps that origin onto `posai_app.shopify.urls.shop_base_url`
(the identity in production, the local fake in tests). See docs/auth.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from posai_app.errors import AppError, Unauthorized
from posai_app.extensions import db
from posai_app.models import Shop, aware
from posai_app.queue import get_redis
from posai_app.shopify.urls import shop_base_url

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)  # refresh this long before the access token expires
HTTP_TIMEOUT = 15.0
LOCK_TTL_SECONDS = 60  # a crashed refresher's Redis lock frees itself after this
LOCK_WAIT_SECONDS = 45  # longer than one refresh (HTTP timeout + retries), shorter than a job


class AuthRevoked(Unauthorized):
    """The shop's grant is gone (invalid/expired refresh token, uninstalled): it must re-authenticate."""

    code = "reauthorization_required"


class TokenRequestFailed(AppError):
    """Shopify's token endpoint could not be used right now (network, 5xx, 429, bad client config)."""

    status, code = 502, "shopify_token_request_failed"


class TokenExchangeRejected(Unauthorized):
    """Shopify refused to exchange the session token (`invalid_subject_token`): not installed or stale."""


# --------------------------------------------------------------------------- HTTP plumbing


class _ShopOriginTransport(httpx.BaseTransport):
    """Send requests for `https://{shop}.myshopify.com/...` to shop_base_url(shop) instead."""

    def __init__(self, base_url_for: Mapping[str, str]):
        self._inner = httpx.HTTPTransport()
        self._base_url_for = dict(base_url_for)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        base = self._base_url_for.get(request.url.host or "")
        if base is not None and request.url.scheme == "https":
            target = httpx.URL(base.rstrip("/") + request.url.raw_path.decode("ascii"))
            request.url = target
            request.headers["Host"] = target.netloc.decode("ascii")
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def http_client(shop_domain: str) -> httpx.Client:
    """An httpx client whose requests to https://{shop_domain} reach shop_base_url(shop_domain)."""
    base = shop_base_url(shop_domain)
    if base == f"https://{shop_domain}":
        return httpx.Client(timeout=HTTP_TIMEOUT)
    return httpx.Client(timeout=HTTP_TIMEOUT, transport=_ShopOriginTransport({shop_domain: base}))


def _shopify_app():
    from shopify_app import ShopifyApp

    config = current_app.config
    return ShopifyApp(
        client_id=config["SHOPIFY_API_KEY"],
        client_secret=config["SHOPIFY_API_SECRET"],
        old_client_secret=config.get("SHOPIFY_API_SECRET_OLD") or None,
    )


def _seconds_until(iso: str | None) -> int | None:
    if not iso:
        return None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return max(0, round((moment - datetime.now(UTC)).total_seconds()))


def _as_token_response(token: Any) -> dict[str, Any]:
    """shopifyapp's TokenExchangeAccessToken -> the shape of Shopify's token endpoint response."""
    response: dict[str, Any] = {"access_token": token.token, "scope": token.scope or ""}
    if (expires_in := _seconds_until(token.expires)) is not None:
        response["expires_in"] = expires_in
    if token.refresh_token:
        response["refresh_token"] = token.refresh_token
        if (refresh_in := _seconds_until(token.refresh_token_expires)) is not None:
            response["refresh_token_expires_in"] = refresh_in
    return response


# --------------------------------------------------------------------------- token exchange


def exchange_session_token(shop_domain: str, session_token: str) -> dict[str, Any]:
    """Exchange a verified session token for an expiring offline token; return Shopify's token response."""
    with http_client(shop_domain) as client:
        result = _shopify_app().exchange_using_token_exchange(
            "offline",
            id_token={
                "exchangeable": True,
                "token": session_token,
                "claims": {"dest": f"https://{shop_domain}"},
            },
            expiring=True,
            http_client=client,
        )
    if result.ok and result.access_token is not None:
        log.info("token exchange succeeded for %s", shop_domain)
        return _as_token_response(result.access_token)
    code = result.log.code if result.log else "unknown"
    log.warning("token exchange failed for %s: %s", shop_domain, code)
    if code == "invalid_subject_token":
        raise TokenExchangeRejected(
            "Shopify refused this session token (stale, or the app is not installed): retry with a fresh one",
            details={"reason": "token_exchange_rejected"},
        )
    raise TokenRequestFailed(f"Token exchange with Shopify failed ({code})", details={"reason": code})


# --------------------------------------------------------------------------- offline token getter


def _needs_refresh(expires_at: datetime | None) -> bool:
    expires_at = aware(expires_at)
    return expires_at is not None and expires_at <= datetime.now(UTC) + REFRESH_MARGIN


def _private_session() -> Session:
    # Token state commits on its own: Shopify rotates the refresh token on every refresh,
    # so a new pair must survive even if the caller's unit of work rolls back.
    return Session(bind=db.engine, expire_on_commit=False)


def get_access_token(shop_id: int) -> str:
    """A valid offline access token for the shop, refreshed first when it expires within ~5 minutes."""
    with _private_session() as session:
        row = session.execute(
            sa.select(
                Shop.access_token, Shop.access_token_expires_at, Shop.needs_reauth, Shop.uninstalled_at
            ).where(Shop.id == shop_id)
        ).one_or_none()
    if row is None or row.uninstalled_at is not None:
        raise AuthRevoked(f"Shop {shop_id} is not installed")
    if row.needs_reauth or not row.access_token:
        raise AuthRevoked(f"Shop {shop_id} must re-authenticate")
    if not _needs_refresh(row.access_token_expires_at):
        return row.access_token
    return refresh_access_token(shop_id, stale_token=row.access_token)


def refresh_access_token(shop_id: int, stale_token: str | None = None) -> str:
    """Refresh the shop's access token under a per-shop lock and return the new one.

    With `stale_token`: if another caller already replaced that token (and the replacement
    is not about to expire), return the replacement without calling Shopify.
    """
    with _refresh_lock(shop_id) as for_update:
        return _refresh_locked(shop_id, stale_token, for_update=for_update)


# --------------------------------------------------------------------------- per-shop lock

_process_locks: dict[object, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: object) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


@contextmanager
def _named_lock(name: str) -> Iterator[None]:
    """A lock across processes through Redis when configured, else within this process."""
    redis = get_redis()
    if redis is not None:
        from redis.exceptions import LockError

        lock = redis.lock(f"posai:auth:{name}", timeout=LOCK_TTL_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
        if not lock.acquire():
            raise TokenRequestFailed("Timed out waiting for another token request of this shop")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError:  # expired under us: the next holder already owns it
                log.warning("lock %s expired before release", name)
        return
    lock = _process_lock(name)
    if not lock.acquire(timeout=LOCK_WAIT_SECONDS):
        raise TokenRequestFailed("Timed out waiting for another token request of this shop")
    try:
        yield
    finally:
        lock.release()


@contextmanager
def exchange_lock(shop_domain: str) -> Iterator[None]:
    """Serialise token exchanges of one shop (App Bridge fires several first requests at once)."""
    with _named_lock(f"exchange:{shop_domain}"):
        yield


@contextmanager
def _refresh_lock(shop_id: int) -> Iterator[bool]:
    """Hold the shop's refresh lock; yields True when the caller must take a row lock instead."""
    if get_redis() is None and db.engine.dialect.name == "postgresql":
        yield True  # SELECT ... FOR UPDATE on the shop row serialises refreshers across processes
        return
    # Redis lock when configured; else SQLite (development, one process): a lock in this process.
    with _named_lock(f"refresh:{shop_id}"):
        yield False


def _refresh_locked(shop_id: int, stale_token: str | None, *, for_update: bool) -> str:
    with _private_session() as session:
        statement = sa.select(Shop).where(Shop.id == shop_id)
        if for_update:
            statement = statement.with_for_update()
        shop = session.scalar(statement)
        if shop is None or shop.uninstalled_at is not None:
            raise AuthRevoked(f"Shop {shop_id} is not installed")
        if shop.needs_reauth:
            raise AuthRevoked(f"Shop {shop_id} must re-authenticate")
        current = shop.access_token
        if (
            stale_token is not None
            and current
            and current != stale_token
            and not _needs_refresh(shop.access_token_expires_at)
        ):
            return current  # someone else refreshed while we waited
        token = _call_refresh(shop)
        if token is None:
            shop.needs_reauth = True
            session.commit()
            log.warning("refresh token of shop %s was refused: marked as needing re-authentication", shop_id)
            raise AuthRevoked(f"Shop {shop_id} must re-authenticate: its refresh token was refused")
        store_tokens(shop, token)
        session.commit()
        log.info("refreshed the access token of shop %s", shop_id)
        return token["access_token"]


def _call_refresh(shop: Shop) -> dict[str, Any] | None:
    """POST grant_type=refresh_token; Shopify's token response, or None when the grant is gone."""
    if not shop.refresh_token:
        return None  # a non-expiring token that Shopify no longer accepts: only re-auth helps
    refresh_expires = aware(shop.refresh_token_expires_at)
    name = shop.domain.removesuffix(".myshopify.com")
    with http_client(shop.domain) as client:
        result = _shopify_app().refresh_token_exchanged_access_token(
            {
                "access_mode": "offline",
                "shop": name,
                "refresh_token": shop.refresh_token,
                # Empty `expires` makes shopifyapp refresh now: we decide when (margin, or a 401).
                "expires": "",
                "refresh_token_expires": refresh_expires.strftime("%Y-%m-%dT%H:%M:%SZ")
                if refresh_expires
                else "",
            },
            http_client=client,
        )
    if result.ok and result.access_token is not None:
        return _as_token_response(result.access_token)
    code = result.log.code if result.log else "unknown"
    if code in ("invalid_grant", "refresh_token_expired"):
        return None
    log.warning("token refresh for shop %s failed: %s", shop.id, code)
    raise TokenRequestFailed(f"Token refresh with Shopify failed ({code})", details={"reason": code})


def _expiry(response: Mapping[str, Any], seconds_key: str, at_key: str) -> datetime | None:
    if (at := response.get(at_key)) is not None:
        return aware(at if isinstance(at, datetime) else datetime.fromisoformat(str(at)))
    if (seconds := response.get(seconds_key)) is not None:
        return datetime.now(UTC) + timedelta(seconds=int(seconds))
    return None


def store_tokens(shop: Shop, response: Mapping[str, Any]) -> None:
    """Copy a token endpoint response onto the shop (columns are encrypted by the model)."""
    access_token = response.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise TokenRequestFailed("Shopify's token response carried no access token")
    shop.access_token = access_token
    shop.access_token_expires_at = _expiry(response, "expires_in", "expires_at")
    shop.refresh_token = response.get("refresh_token") or None
    shop.refresh_token_expires_at = (
        _expiry(response, "refresh_token_expires_in", "refresh_token_expires_at")
        if shop.refresh_token
        else None
    )
    if response.get("scope"):
        shop.scopes = str(response["scope"])
    shop.needs_reauth = False

"""The calling shop as the request path needs it (id, install state, token expiries, settings), cached.

Every POS request names its shop by domain in the session token. Reading the `shops` row
for each one would cost a query; instead each process keeps a small immutable snapshot,
invalidated by the "shop" change signal (posai_app.cache_signals), which any flush of a
changed Shop row raises: install, token refresh, reauth, uninstall, settings saves.
The snapshot never holds the tokens themselves, only whether there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.models import Shop, aware
from posai_app.shops.settings import setting

MAX_CACHED_SHOPS = 4096
_ids_by_domain: dict[str, int] = {}  # a shop's id never changes; a deleted shop is detected at load


def token_usable(
    installed: bool,
    needs_reauth: bool,
    has_access_token: bool,
    access_expires: datetime | None,
    refresh_expires: datetime | None,
    now: datetime | None = None,
) -> bool:
    """Whether the stored offline token can still call Shopify (directly or after one refresh)."""
    if not installed or needs_reauth or not has_access_token:
        return False
    now = now or datetime.now(UTC)
    # Both tokens dead: a refresh cannot succeed, but an exchange of a session token can.
    return not (refresh_expires and access_expires and refresh_expires <= now and access_expires <= now)


@dataclass(frozen=True)
class ShopSnapshot:
    id: int
    domain: str
    installed: bool
    needs_reauth: bool
    has_access_token: bool
    access_token_expires_at: datetime | None
    refresh_token_expires_at: datetime | None
    settings: Mapping[str, Any]

    def setting(self, name: str) -> Any:
        return setting(self.settings, name)

    def token_usable(self) -> bool:
        return token_usable(
            self.installed,
            self.needs_reauth,
            self.has_access_token,
            self.access_token_expires_at,
            self.refresh_token_expires_at,
        )


_COLUMNS = (
    Shop.id,
    Shop.domain,
    Shop.installed_at,
    Shop.uninstalled_at,
    Shop.needs_reauth,
    Shop.access_token.is_not(None).label("has_access_token"),  # no decryption on this path
    Shop.access_token_expires_at,
    Shop.refresh_token_expires_at,
    Shop.settings,
)


def _load(shop_id: int) -> ShopSnapshot | None:
    row = db.session.execute(sa.select(*_COLUMNS).where(Shop.id == shop_id)).first()
    if row is None:
        return None
    return ShopSnapshot(
        id=row.id,
        domain=row.domain,
        installed=row.installed_at is not None and row.uninstalled_at is None,
        needs_reauth=bool(row.needs_reauth),
        has_access_token=bool(row.has_access_token),
        access_token_expires_at=aware(row.access_token_expires_at),
        refresh_token_expires_at=aware(row.refresh_token_expires_at),
        settings=MappingProxyType(dict(row.settings or {})),
    )


def shop_snapshot(shop_id: int) -> ShopSnapshot | None:
    """The shop's snapshot (cached while its "shop" signal holds), or None if there is no such shop."""
    return shop_cache("shops", "shop", MAX_CACHED_SHOPS).get_or_load(
        shop_id, lambda _previous: _load(shop_id)
    )


def snapshot_for_domain(domain: str) -> ShopSnapshot | None:
    """The snapshot of the shop with this domain, or None if it has never been installed."""
    shop_id = _ids_by_domain.get(domain)
    if shop_id is not None:
        snapshot = shop_snapshot(shop_id)
        if snapshot is not None and snapshot.domain == domain:
            return snapshot
        _ids_by_domain.pop(domain, None)  # deleted (shop/redact) and perhaps installed again
    shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.domain == domain))
    if shop_id is None:
        return None
    if len(_ids_by_domain) > 100_000:
        _ids_by_domain.clear()
    _ids_by_domain[domain] = shop_id
    return shop_snapshot(shop_id)

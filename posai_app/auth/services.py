"""Install and uninstall: the shop lifecycle, shared by token exchange, the code grant and webhooks.

Both functions commit: the install must be durable before the first sync job is enqueued
(inline jobs run in their own session), and uninstall is a complete unit of work whichever
caller (webhook job, CLI) runs it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from posai_app.auth.domains import is_valid_shop_domain
from posai_app.auth.tokens import aware, store_tokens
from posai_app.extensions import db
from posai_app.models import Shop
from posai_app.tenancy import delete_shop_data

log = logging.getLogger(__name__)


def install_shop(shop_domain: str, token_response: Mapping[str, Any]) -> Shop:
    """Upsert the shop with the tokens from Shopify's token response, commit, and enqueue its first sync.

    `token_response` has Shopify's shape: access_token, scope, expires_in, refresh_token,
    refresh_token_expires_in (`expires_at` / `refresh_token_expires_at` datetimes are accepted too).
    A shop that had been uninstalled starts clean; a healthy shop only gets its tokens replaced.
    """
    if not is_valid_shop_domain(shop_domain):
        raise ValueError(f"not a shop domain: {shop_domain!r}")
    for attempt in (1, 2):
        shop = db.session.scalar(sa.select(Shop).where(Shop.domain == shop_domain))
        first_sync = shop is None or not shop.is_installed or shop.needs_reauth
        if shop is None:
            shop = Shop(domain=shop_domain, settings={})
            db.session.add(shop)
        elif shop.uninstalled_at is not None:
            delete_shop_data(shop.id, keep_shop=True)  # a reinstall starts from nothing
            shop.settings = {}
            shop.installed_at = None
        store_tokens(shop, token_response)
        if shop.installed_at is None:
            shop.installed_at = datetime.now(UTC)
        shop.uninstalled_at = None
        try:
            db.session.commit()
            break
        except IntegrityError:
            # Two first requests of a new shop raced to insert it; the second one updates instead.
            db.session.rollback()
            if attempt == 2:
                raise
    log.info("installed shop %s (id %s)", shop_domain, shop.id)
    if first_sync:
        _enqueue_first_sync(shop.id)
    return shop


def _enqueue_first_sync(shop_id: int) -> None:
    try:
        from posai_app.ingest.jobs import enqueue_sync

        enqueue_sync(shop_id)
    except Exception:
        # The install is committed and usable; a failed enqueue (Redis down) must not undo it.
        # The nightly / catch-up sync picks the shop up later.
        log.exception("could not enqueue the first sync of shop %s", shop_id)


def uninstall_shop(shop_id: int, *, not_after: datetime | None = None) -> None:
    """Forget the shop's tokens and delete all its data (the shop row included), then commit.

    Idempotent. Shopify has already revoked the tokens when `app/uninstalled` arrives;
    deleting the row forgets them here too, and a reinstall creates a fresh shop.
    `not_after`: the uninstall's own time (e.g. the webhook's triggered-at); a shop installed
    again after it is left alone, so a late `app/uninstalled` cannot wipe a reinstall.
    """
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    installed_at = aware(shop.installed_at)
    if not_after is not None and installed_at is not None and installed_at > aware(not_after):
        log.info("ignoring a stale uninstall of shop %s: reinstalled at %s", shop_id, installed_at)
        return
    domain = shop.domain
    removed = delete_shop_data(shop_id)
    db.session.commit()
    log.info("uninstalled shop %s (id %s): removed %s rows", domain, shop_id, sum(removed.values()))

"""The shop lifecycle: install, uninstall, redaction and deletion of a shop's data.

Install is shared by token exchange, the code grant and the demo; uninstall and redaction by
the webhooks and the CLI. `install_shop` and `uninstall_shop` commit: the install must be
durable before the first sync job is enqueued (inline jobs run in their own session), and an
uninstall is a complete unit of work whichever caller runs it. `delete_shop_data`,
`redact_orders` and `redact_shop` work in the caller's transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from posai_app.auth.domains import is_valid_shop_domain
from posai_app.auth.tokens import store_tokens
from posai_app.cache_signals import touch
from posai_app.errors import NotFound
from posai_app.extensions import db
from posai_app.ingest.orders import delete_orders
from posai_app.ingest.sync import enqueue_sync
from posai_app.models import Shop, aware, shop_owned_models
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)


def get_shop(shop_id: int) -> Shop:
    """The shop row, or NotFound (a 404 for the admin page)."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    return shop


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


def delete_shop_data(shop_id: int, *, keep_shop: bool = False) -> dict[str, int]:
    """Delete every row of one shop in the current transaction; the caller commits.

    Explicit deletes (not only ON DELETE CASCADE) so SQLite without foreign keys
    and tables added later are covered too. Returns the row counts removed.
    """
    touch(shop_id)  # every cached view of this shop is stale once this commits
    # order_line_items has no foreign key to cascade from shops (migration 0016). Lock the shop's
    # row first: every batch writing line items holds it FOR KEY SHARE (ingest.upserts.hold_shop),
    # so this waits for those in flight (the deletes below then see their rows) and holds later
    # ones off until the row is gone. The row is the only lock taken before the deletes: writers
    # take theirs in the other order too (a receipt's key, then the orders lock), so no cycle.
    db.session.execute(sa.select(Shop.id).where(Shop.id == shop_id).with_for_update())
    removed: dict[str, int] = {}
    for model in shop_owned_models():
        result = db.session.execute(sa.delete(model).where(of_shop(model, shop_id)))
        removed[model.__tablename__] = result.rowcount or 0
    if not keep_shop:
        db.session.execute(sa.delete(Shop).where(Shop.id == shop_id))
    return removed


def redact_shop(shop_id: int) -> dict[str, int]:
    """shop/redact: everything of the shop goes (48 hours after its uninstall, Shopify says)."""
    removed = delete_shop_data(shop_id)
    log.info("shop/redact for shop %s: removed %s", shop_id, removed)
    return removed


def redact_orders(shop_id: int, order_ids: list[int]) -> int:
    """customers/redact: delete the listed orders for good (tombstoned: never re-imported)."""
    removed = delete_orders(shop_id, order_ids, reason="redacted")
    log.info(
        "customers/redact for shop %s: %d orders, %d line items removed", shop_id, len(order_ids), removed
    )
    return removed

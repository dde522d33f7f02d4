"""Orders into order_line_items (and their versions and tombstones): upsert, delete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.id_lists import among, id_chunks
from posai_app.impact import attribution
from posai_app.ingest import parse, upserts
from posai_app.ingest.parse import parse_datetime
from posai_app.ingest.upserts import UpsertResult
from posai_app.models import OrderLineItem, OrderVersion
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)


def _order_version(order: dict) -> datetime | None:
    return parse_datetime(order.get("updated_at")) or parse_datetime(order.get("created_at"))


def upsert_orders(
    shop_id: int,
    orders: Iterable[dict],
    *,
    batch_rows: int | None = None,
    on_batch: Callable[[UpsertResult], None] | None = None,
) -> UpsertResult:
    """Upsert orders with their line items; stale, deleted and duplicate payloads change nothing.

    An order's stored line items become exactly the payload's (line items edited out of an
    order are removed) unless the stored order is newer. Streams: memory is one batch.
    `on_batch(result_of_batch)` runs after each batch is flushed (jobs commit there).
    """
    return upserts.upsert_in_batches(shop_id, orders, "line_items", batch_rows, _upsert_order_batch, on_batch)


def _guarded(
    shop_id: int, batch: list[dict], result: UpsertResult, line_item_ids, *, keep_same_version: bool = False
) -> list[dict]:
    """The orders of a batch to apply (newest per id, not tombstoned, not older than stored).

    Takes the shop's lock first; prunes the line items an applied order no longer has and
    counts what is skipped. `line_item_ids(order)` lists the ids the payload keeps;
    `keep_same_version`: stored lines of the payload's own version are kept too.
    """
    upserts.hold_shop(shop_id)
    touch(shop_id, "orders")  # the admin's cached history counts are recomputed once this commits
    orders = upserts.newest_per_id(batch, "order_id", _order_version)
    ids = [o["order_id"] for o in orders]
    deleted = upserts.tombstoned(shop_id, "order", ids)
    # Versions live per order (order_versions), not only on line items: an order emptied by a
    # newer payload has no line item left to carry its version.
    existing = upserts.stored_versions(
        shop_id, OrderVersion, OrderVersion.order_id, [i for i in ids if i not in deleted]
    )
    applied: list[dict] = []
    for order in orders:
        order_id = order["order_id"]
        if order_id in deleted:
            result.deleted_skipped += 1
            continue
        version = _order_version(order)
        if order_id in existing and not upserts.later_or_equal(version, existing[order_id]):
            result.stale_skipped += 1
            continue
        if order_id in existing:
            _prune_line_items(shop_id, order_id, line_item_ids(order), version, keep_same_version)
        else:
            result.new_order_ids.append(order_id)
        result.orders += 1
        applied.append(order)
    return applied


def _upsert_order_batch(shop_id: int, batch: list[dict]) -> UpsertResult:
    result = UpsertResult()
    applied = _guarded(
        shop_id, batch, result, lambda o: [li["line_item_id"] for li in o.get("line_items") or []]
    )
    rows: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for order in applied:
        order_id = order["order_id"]
        version = _order_version(order)
        versions.append({"shop_id": shop_id, "order_id": order_id, "shopify_updated_at": version})
        created_at = parse_datetime(order["created_at"])
        cancelled_at = parse_datetime(order.get("cancelled_at"))
        for item in order.get("line_items") or []:
            rows.append(
                {
                    "shop_id": shop_id,
                    "line_item_id": int(item["line_item_id"]),
                    "order_id": order_id,
                    "order_number": order.get("order_number"),
                    "order_name": order.get("name"),
                    "created_at": created_at,
                    "currency": order.get("currency"),
                    "product_id": item.get("product_id"),
                    "variant_id": item.get("variant_id"),
                    "title": item.get("title") or "",
                    "quantity": int(item.get("quantity") or 0),
                    "price": upserts.money(item.get("price")),
                    "sku": item.get("sku"),
                    "is_custom_sale": bool(item.get("is_custom_sale", item.get("variant_id") is None)),
                    "cancelled_at": cancelled_at,
                    "shopify_updated_at": version,
                }
            )
    upserts.upsert_rows(OrderLineItem.__table__, ("shop_id", "line_item_id"), rows)
    upserts.upsert_rows(OrderVersion.__table__, ("shop_id", "order_id"), versions)
    attribution.apply_orders(shop_id, applied, result.new_order_ids)  # tagged upsells, live hits
    result.line_items = len(rows)
    return result


def guard_headers(shop_id: int, headers: list[dict], result: UpsertResult) -> list[dict]:
    """`upsert_orders`' guards for orders whose line items are still to come (ingest.bulk_orders).

    The same skips and counts; an applied order's stored line items of an older version are all
    removed, since the ones it keeps are written again as they arrive. Lines of its own version
    are kept: they are this file's (a resumed read, or the run it replaced still writing), and
    Shopify changes an order's `updatedAt` with every edit.
    """
    return _guarded(shop_id, headers, result, lambda order: [], keep_same_version=True)


def order_copy_row(order: dict, *extra: str) -> str:
    """An applied order's row of parse.ORDER_COPY_COLUMNS (then `extra` fields), as COPY text."""
    number, cancelled = order.get("order_number"), parse_datetime(order.get("cancelled_at"))
    version = _order_version(order)
    fields = (
        str(order["order_id"]),
        "\\N" if number is None else str(int(number)),
        parse.copy_text(order.get("name")),
        parse_datetime(order["created_at"]).isoformat(),
        parse.copy_text(order.get("currency")),
        "\\N" if cancelled is None else cancelled.isoformat(),
        "\\N" if version is None else version.isoformat(),
        *extra,
    )
    return "\t".join(fields) + "\n"


def _prune_line_items(
    shop_id: int, order_id: int, keep: list[int], version: datetime | None, keep_same_version: bool = False
) -> None:
    """Remove line items an order no longer has (edited out), unless they are newer than this payload
    (or, with `keep_same_version`, of its version)."""
    condition = [
        of_shop(OrderLineItem, shop_id),
        OrderLineItem.order_id == order_id,
    ]
    if keep:
        condition.append(OrderLineItem.line_item_id.not_in(keep))
    if version is not None:
        stored = OrderLineItem.shopify_updated_at
        older = stored < version if keep_same_version else stored <= version
        condition.append(sa.or_(stored.is_(None), older))
    db.session.execute(sa.delete(OrderLineItem).where(*condition))


def delete_orders(shop_id: int, order_ids: Iterable[int], *, reason: str = "deleted") -> int:
    """Remove orders and tombstone them so no later payload brings them back; returns line items removed."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return 0
    upserts.lock_shop(shop_id, "orders")
    touch(shop_id, "orders")  # the admin's cached history counts are recomputed once this commits
    upserts.tombstone(shop_id, "order", ids, reason)
    removed = 0
    for chunk in id_chunks(ids):
        result = db.session.execute(
            sa.delete(OrderLineItem).where(
                of_shop(OrderLineItem, shop_id), among(OrderLineItem.order_id, chunk)
            )
        )
        removed += result.rowcount or 0
        db.session.execute(
            sa.delete(OrderVersion).where(of_shop(OrderVersion, shop_id), among(OrderVersion.order_id, chunk))
        )
    attribution.forget_orders(shop_id, ids)
    return removed

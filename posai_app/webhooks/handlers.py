"""What each webhook topic does, and the job that applies a recorded delivery.

`TOPICS` is the one registry: the endpoint accepts, and shopify.app.toml subscribes to,
exactly its topics (compliance topics are configured apart in shopify.app.toml). Handlers
take the shop id and Shopify's payload, and work in the job's transaction; the writes they
make are the ingest feature's guarded upserts, so any delivery order ends in the same rows.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from posai_app.extensions import db
from posai_app.ingest import inventory, orders, parse, products
from posai_app.ingest.sync import RESOURCES, enqueue_sync, request_retrain
from posai_app.ingest.sync_state import get_sync_state
from posai_app.inputs import parse_id, parse_json
from posai_app.models import SyncStatus, WebhookDelivery, utcnow
from posai_app.shopify import queries
from posai_app.shopify.client import client_for_shop
from posai_app.shopify.gid import from_gid, to_gid
from posai_app.shops import lifecycle
from posai_app.tenancy import update_for_shop

log = logging.getLogger(__name__)

PROCESS_JOB = "posai_app.webhooks.handlers.process_webhook"  # on the "high" queue

# RQ refuses any other job id (ValueError), which answered 503 on every retry of a webhook whose
# id header held a dot, a space or a slash.
_JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def job_id_for(shop_id: int, webhook_id: str) -> str:
    """A delivery's PROCESS_JOB id: its webhook id when RQ accepts it as one, else a digest of it."""
    if not _JOB_ID_SAFE.fullmatch(webhook_id):
        webhook_id = "h" + hashlib.sha256(webhook_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"webhook-{shop_id}-{webhook_id}"


def process_webhook(
    shop_id: int,
    delivery: str | int | None,
    topic: str,
    payload: bytes | dict,
    triggered_at: str | None = None,
) -> None:
    """Apply one verified, recorded webhook delivery; marks the delivery processed or failed.

    `delivery` is the delivery's key within the shop, its webhook id. (A job queued before
    migration 0012 carries the delivery's old surrogate id, an int: it is applied, not marked.)
    `payload` is the raw body the endpoint verified and checked (jobs queued by earlier
    versions carry it parsed, a dict)."""
    spec = TOPICS.get(topic)
    try:
        if not isinstance(payload, dict):
            payload = parse_json(payload, what="Webhook body")
        if spec is None:
            log.info("webhook topic %s for shop %s ignored", topic, shop_id)
        elif spec.needs_time:
            spec.handler(shop_id, payload, triggered_at=triggered_at)
        else:
            spec.handler(shop_id, payload)
        _mark_delivery(shop_id, delivery, "processed" if spec else "ignored")
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        _mark_delivery(shop_id, delivery, "failed", f"{exc.__class__.__name__}: {exc}"[:2000])
        db.session.commit()
        raise


def _mark_delivery(shop_id: int, key: str | int | None, status: str, error: str | None = None) -> None:
    if not isinstance(key, str):
        return
    row = db.session.get(WebhookDelivery, (shop_id, key))
    if row is None:  # shop/redact and app/uninstalled remove the shop's deliveries too
        return
    row.status = status
    row.error = error
    row.processed_at = utcnow()


def handle_order(shop_id: int, payload: dict) -> None:
    """orders/create, orders/updated, orders/cancelled: the payload is the whole order."""
    result = orders.upsert_orders(shop_id, [parse.order_from_rest(payload)])
    if result.new_order_ids:
        db.session.commit()  # the retrain must see the new order
        request_retrain(shop_id)


def apply_orders(shop_id: int, deliveries: list[tuple[str, bytes]]) -> None:
    """Several order deliveries of one shop ((receipt key, raw body) each; orders/create,
    /updated, /cancelled) applied as `handle_order` applies each, in one upsert and one commit:
    the receipts, which the caller recorded in this transaction, are marked processed with them.
    Raises on any failure, a malformed payload included: the caller rolls back and applies the
    deliveries one by one, so that only the bad one is retried."""
    payloads = [parse.order_from_rest(parse_json(body, what="Webhook body")) for _, body in deliveries]
    result = orders.upsert_orders(shop_id, payloads)
    db.session.execute(
        update_for_shop(WebhookDelivery, shop_id)
        .where(WebhookDelivery.webhook_id.in_([key for key, _ in deliveries]))
        .values(status="processed", error=None, processed_at=utcnow())
    )
    db.session.commit()
    if result.new_order_ids:
        try:
            request_retrain(shop_id)
        except Exception:  # committed and marked processed: a retry would find nothing to do
            log.exception(
                "shop %s: the retrain after %s new orders was not requested", shop_id, len(payloads)
            )


def handle_order_deleted(shop_id: int, payload: dict) -> None:
    orders.delete_orders(shop_id, [parse.rest_id(payload, "Order")], reason="deleted")


def handle_product(shop_id: int, payload: dict) -> None:
    """products/create, products/update: fields the payload leaves out keep their stored values."""
    products.upsert_products(shop_id, [parse.product_from_rest(payload)])


def handle_product_deleted(shop_id: int, payload: dict) -> None:
    products.delete_product(shop_id, parse.rest_id(payload, "Product"))


class InventoryItemNotStoredError(Exception):
    """An inventory item's webhook came before its variant (Shopify does not order topics)."""


def handle_inventory_item(shop_id: int, payload: dict) -> None:
    """inventory_items/create|update: whether Shopify tracks the item's stock, for its stored variant.

    The payload names no variant; the variant is found by its stored inventory_item_id.
    Before that variant is stored (its products/create is still on the way) the job fails
    and RQ retries it (10 s, 1 min, 5 min); past that, the next sync reads
    `inventoryItem { tracked }` itself.
    """
    item = parse.inventory_item_from_rest(payload)
    if "tracked" not in item:
        log.info(
            "inventory_items/update for item %s carries no `tracked`; ignored", item["inventory_item_id"]
        )
        return
    stored = products.set_inventory_tracked(
        shop_id, item["inventory_item_id"], item["tracked"], item["updated_at"]
    )
    if not stored:
        raise InventoryItemNotStoredError(
            f"inventory item {item['inventory_item_id']} of shop {shop_id} has no stored variant yet"
        )


def handle_inventory_level(shop_id: int, payload: dict) -> None:
    """inventory_levels/update carries one location's level: store it (the POS location's stock
    rule reads it), then read the variant's total across locations from Shopify."""
    level = parse.inventory_level_from_rest(payload)
    inventory.store_levels(shop_id, [level])  # guarded by the level's updated_at
    inventory_item_id = level["inventory_item_id"]
    variant_id = products.variant_id_for_inventory_item(shop_id, inventory_item_id)
    if variant_id is None:
        log.info("inventory item %s of shop %s is not a known variant; ignored", inventory_item_id, shop_id)
        return
    with client_for_shop(shop_id) as client:
        data = client.execute(
            queries.INVENTORY_ITEM_VARIANT,
            {"id": to_gid("InventoryItem", inventory_item_id), "first": queries.INVENTORY_ITEM_VARIANTS},
            operation="InventoryItemVariant",
        )
    item = data.get("inventoryItem") or {}
    edges = (item.get("variants") or {}).get("edges") or []
    variant = edges[0]["node"] if edges else {}
    if variant and from_gid(variant.get("id")) == variant_id:
        products.set_inventory_quantity(shop_id, variant_id, variant.get("inventoryQuantity"))


def handle_bulk_operation_finish(shop_id: int, payload: dict) -> None:
    """A bulk query finished: make sure a sync job picks it up (a running one is not duplicated)."""
    operation_id = payload.get("admin_graphql_api_id")
    for resource in RESOURCES:
        state = get_sync_state(shop_id, resource)
        if state.bulk_operation_id == operation_id and state.status in (
            SyncStatus.RUNNING,
            SyncStatus.FAILED,
        ):
            db.session.commit()
            enqueue_sync(shop_id)  # the same job, timeout and retry as any other sync
            return


def handle_app_uninstalled(shop_id: int, payload: dict, triggered_at: str | None = None) -> None:
    """Forget the shop; a stale uninstall (triggered before a reinstall) spares the reinstall."""
    lifecycle.uninstall_shop(shop_id, not_after=parse.parse_datetime(triggered_at))


def handle_customers_data_request(shop_id: int, payload: dict) -> None:
    # POSAI stores no customer data (orders are kept without customer, address or contact fields).
    log.info(
        "customers/data_request for shop %s (request %s): POSAI stores no customer data; nothing to report",
        shop_id,
        (payload.get("data_request") or {}).get("id"),
    )


def redacted_order_ids(value: Any) -> tuple[list[int], list[Any]]:
    """(order ids, refused entries) of `orders_to_redact`: a list of ids, as Shopify sends.

    A lone id counts as a list of one; a string is never iterated ("123" is order 123, not
    orders 1, 2 and 3).
    """
    if value is None:
        return [], []
    entries = value if isinstance(value, list) else [value]
    ids = [parse_id(entry if not isinstance(entry, str) else entry.strip(), "Order") for entry in entries]
    return [i for i in ids if i is not None], [e for e, i in zip(entries, ids, strict=True) if i is None]


def handle_customers_redact(shop_id: int, payload: dict) -> None:
    """Delete (and never re-import) the orders Shopify lists for the redacted customer."""
    order_ids, refused = redacted_order_ids(payload.get("orders_to_redact"))
    if refused:
        log.warning(
            "customers/redact for shop %s: %d entries of orders_to_redact are not order ids: %r",
            shop_id,
            len(refused),
            refused[:5],
        )
    lifecycle.redact_orders(shop_id, order_ids)


def handle_shop_redact(shop_id: int, payload: dict) -> None:
    lifecycle.redact_shop(shop_id)


@dataclass(frozen=True)
class Topic:
    """A webhook topic POSAI subscribes to, and what applying one of its deliveries does."""

    handler: Callable[..., None]
    compliance: bool = False  # a mandatory privacy topic (shopify.app.toml's compliance_topics)
    needs_time: bool = False  # the handler also takes the delivery's triggered-at time


TOPICS: dict[str, Topic] = {
    "orders/create": Topic(handle_order),
    "orders/updated": Topic(handle_order),
    "orders/cancelled": Topic(handle_order),
    "orders/delete": Topic(handle_order_deleted),
    "products/create": Topic(handle_product),
    "products/update": Topic(handle_product),
    "products/delete": Topic(handle_product_deleted),
    "inventory_levels/update": Topic(handle_inventory_level),
    # Whether stock is tracked: product webhooks stopped saying in API 2024-07. A new
    # variant's item is announced by inventory_items/create (usually before products/create).
    "inventory_items/create": Topic(handle_inventory_item),
    "inventory_items/update": Topic(handle_inventory_item),
    "app/uninstalled": Topic(handle_app_uninstalled, needs_time=True),
    "bulk_operations/finish": Topic(handle_bulk_operation_finish),
    "customers/data_request": Topic(handle_customers_data_request, compliance=True),
    "customers/redact": Topic(handle_customers_redact, compliance=True),
    "shop/redact": Topic(handle_shop_redact, compliance=True),
}
HANDLED_TOPICS = tuple(TOPICS)
# The topics `apply_orders` can apply several at a time (the inbox's drain batches them).
ORDER_TOPICS = frozenset(name for name, topic in TOPICS.items() if topic.handler is handle_order)
DATA_TOPICS = tuple(name for name, topic in TOPICS.items() if not topic.compliance)
COMPLIANCE_TOPICS = tuple(name for name, topic in TOPICS.items() if topic.compliance)

"""Ingest jobs (RQ queue "ingest"; webhooks on "high"): sync, reconcile, process webhooks.

Every job takes ids and plain values, commits its own work and is safe to run twice:
writes are guarded upserts, and sync progress (bulk operation id and how many parents of
its file are stored, or the page cursor) is committed together with each batch, so a job
killed at any point resumes where the last commit left off and ends with the same rows
as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from posai_app.extensions import db
from posai_app.ingest import parse, services
from posai_app.inputs import parse_id
from posai_app.models import Shop, SyncState, WebhookDelivery, utcnow
from posai_app.queue import enqueue
from posai_app.shopify import bulk, queries
from posai_app.shopify.client import AdminClient, BulkFileGone, client_for_shop
from posai_app.shopify.gid import from_gid, to_gid

log = logging.getLogger(__name__)

RESOURCES = ("products", "orders")
CATCH_UP_OVERLAP = timedelta(minutes=10)  # re-read a little before the last sync: clocks and indexing lag
RETRY = (3, [10, 60, 300])

Progress = Callable[[SyncState], None]


def _checkpoint(state: SyncState) -> None:
    """Called after every committed batch (tests replace it to simulate a worker dying there)."""


# ---------------------------------------------------------------- sync jobs


class OutOfTime(Exception):  # noqa: N818  (a signal, not an error)
    """The RQ job's time budget is nearly spent: progress is committed, a continuation is queued."""


_deadline: ContextVar[float | None] = ContextVar("posai_ingest_deadline", default=None)


def _check_time() -> None:
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


def _within_job_budget(
    job_name: str, shop_id: int, work: Callable[[], dict[str, Any]], resume: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run `work`, stopping cleanly before RQ's job timeout and queueing a continuation.

    A first sync of a large shop can outlast any job timeout a caller picked (RQ's default
    is 180 s); every batch is committed with its cursor, so the continuation (called with
    `resume()` as keyword arguments) carries on from there.
    """
    timeout = _current_job_timeout()
    if timeout is None:
        return work()
    token = _deadline.set(time.monotonic() + _budget_seconds(timeout))
    try:
        return work()
    except OutOfTime:
        log.info("%s for shop %s: time budget spent, continuing in a new job", job_name, shop_id)
        enqueue(
            "ingest",
            f"posai_app.ingest.jobs.{job_name}",
            shop_id,
            job_id=f"{job_name}-{shop_id}-continued-{uuid.uuid4().hex[:8]}",
            job_timeout=int(timeout),
            retry=RETRY,
            **resume(),
        )
        return {"continued": True}
    finally:
        _deadline.reset(token)


def _budget_seconds(timeout: float) -> float:
    """How long a job may work before handing over: most of its timeout, leaving time to commit."""
    return max(20.0, timeout * 0.8 - 15.0)


def _current_job_timeout() -> float | None:
    try:
        from rq import get_current_job
    except ImportError:  # pragma: no cover - rq is a dependency
        return None
    job = get_current_job()
    if job is None or job.timeout is None or float(job.timeout) <= 0:
        return None
    return float(job.timeout)


def sync_shop(
    shop_id: int,
    *,
    train: bool = True,
    on_progress: Progress | None = None,
    resources: tuple[str, ...] | list[str] = RESOURCES,
) -> dict[str, Any]:
    """Sync products then orders (bulk the first time, catch-up after), then queue a retrain."""
    done: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        for resource in resources:
            done[resource] = _sync_resource(shop_id, resource, on_progress)
        if train and not any(r.get("skipped") for r in done.values()):
            enqueue_training(shop_id, "after_sync")
        return done

    def resume() -> dict[str, Any]:
        return {"train": train, "resources": [r for r in resources if r not in done]}

    return _within_job_budget("sync_shop", shop_id, work, resume)


def sync_products(shop_id: int, *, on_progress: Progress | None = None) -> dict[str, Any]:
    """Bring the shop's variants up to date (bulk on first run, changed products after)."""
    result = sync_shop(shop_id, train=False, on_progress=on_progress, resources=("products",))
    return result.get("products", result)


def sync_orders(shop_id: int, *, on_progress: Progress | None = None) -> dict[str, Any]:
    """Bring the shop's orders up to date (bulk on first run, orders updated since after)."""
    result = sync_shop(shop_id, train=False, on_progress=on_progress, resources=("orders",))
    return result.get("orders", result)


def reconcile_shop(shop_id: int) -> dict[str, Any]:
    """Nightly repair: re-read everything updated since the last sync (catches missed webhooks)."""
    results = sync_shop(shop_id, train=False)
    if results.get("orders", {}).get("new_orders"):
        _request_retrain(shop_id)
    return results


def _installed_shop(shop_id: int) -> Shop | None:
    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.is_installed:
        log.info("sync skipped: shop %s is not installed", shop_id)
        return None
    return shop


def _sync_resource(shop_id: int, resource: str, on_progress: Progress | None) -> dict[str, Any]:
    shop = _installed_shop(shop_id)
    if shop is None:
        return {"skipped": "not installed"}
    state = services.get_sync_state(shop_id, resource)
    state.status = "running"
    state.last_error = None
    if state.started_at is None or state.phase in (None, "done"):
        state.started_at = utcnow()
    db.session.commit()
    client: AdminClient | None = None
    try:
        client = client_for_shop(shop_id)
        if state.last_synced_at is None:
            try:
                result = _bulk_sync(client, shop, state, resource, on_progress)
            except BulkFileGone:
                # The operation's file expired (a sync resumed days later): run a fresh one.
                db.session.rollback()
                state.bulk_operation_id = None
                state.cursor = None
                db.session.commit()
                result = _bulk_sync(client, shop, state, resource, on_progress)
        else:
            result = _catch_up(client, shop, state, resource, on_progress)
    except OutOfTime:
        db.session.rollback()
        raise
    except Exception as exc:
        db.session.rollback()
        state = services.get_sync_state(shop_id, resource)
        state.status = "failed"
        state.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    finally:
        if client is not None:
            client.close()
    return result


def _load_cursor(state: SyncState) -> dict[str, Any]:
    try:
        return json.loads(state.cursor) if state.cursor else {}
    except ValueError:
        return {}


def _bulk_sync(
    client: AdminClient, shop: Shop, state: SyncState, resource: str, on_progress: Progress | None
) -> dict[str, Any]:
    shop_id = shop.id
    cursor = _load_cursor(state)
    operation = None
    if state.bulk_operation_id and cursor.get("mode") == "bulk":
        operation = bulk.get_bulk_operation(client, state.bulk_operation_id)
        if operation is None or operation.get("status") in {"FAILED", "CANCELED", "EXPIRED"}:
            operation = None
    if operation is None:
        inner = queries.BULK_PRODUCTS if resource == "products" else queries.bulk_orders()
        operation = bulk.start_bulk_query(client, inner, poll_interval=_poll_seconds())
        cursor = {"mode": "bulk", "line": 0, "groups": 0}
        _remove_spools(shop_id, resource)  # files of operations no run will read again
        state.bulk_operation_id = operation["id"]
        state.cursor = json.dumps(cursor)
        state.phase = "bulk_running"
        state.processed_count = 0
        state.total_count = None
        db.session.commit()
        _report(state, on_progress)

    def on_poll(op: dict) -> None:
        if op.get("objectCount") is not None:
            state.total_count = int(op["objectCount"])
        db.session.commit()
        _report(state, on_progress)
        if op.get("status") != "COMPLETED":
            _check_time()

    poll = _poll_seconds()
    operation = bulk.wait_for_bulk_operation(
        client, state.bulk_operation_id, poll_interval=poll, on_poll=on_poll
    )
    state.phase = "downloading"
    state.total_count = int(operation.get("objectCount") or 0)
    db.session.commit()
    _report(state, on_progress)

    if "groups" not in cursor:  # a cursor written before files were spooled: import it all again
        cursor, state.processed_count = {"mode": "bulk", "line": 0, "groups": 0}, 0
    tracker = {"groups": int(cursor["groups"]), "objects": state.processed_count or 0, "oldest": None}
    totals = _import_bulk_file(client, shop_id, state, resource, operation, tracker, on_progress)
    finished_at = utcnow()
    state.status = "done"
    state.phase = "done"
    state.cursor = None
    state.processed_count = state.total_count or state.processed_count
    state.last_synced_at = parse.parse_datetime(operation.get("createdAt")) or state.started_at or finished_at
    state.finished_at = finished_at
    if resource == "orders":
        state.all_history = "read_all_orders" in (shop.scopes or "").split(",")
    db.session.commit()
    _report(state, on_progress)
    return _summary(totals)


def _import_bulk_file(
    client: AdminClient,
    shop_id: int,
    state: SyncState,
    resource: str,
    operation: dict,
    tracker: dict[str, Any],
    on_progress: Progress | None,
) -> services.UpsertResult:
    """Spool the operation's file to disk, then upsert its groups from the first uncommitted one.

    The cursor's `groups` (parents committed, in file order) is the resume point: a rerun
    reads the same file again (same operation) and skips that many parents, so it ends with
    exactly the rows of an uninterrupted run. `line` only shows how far the download got.
    """
    path = _spool_path(shop_id, resource, state.bulk_operation_id or operation["id"])
    spool = bulk.Spool.open_complete(path)
    if spool is None:
        spool = _download_to_spool(client, operation.get("url"), path, state, on_progress)

    def on_batch(_: services.UpsertResult) -> None:
        state.cursor = json.dumps({"mode": "bulk", "line": spool.lines, "groups": tracker["groups"]})
        state.processed_count = tracker["objects"]
        _note_oldest(state, tracker)
        db.session.commit()
        _report(state, on_progress)
        _checkpoint(state)
        _check_time()

    upsert = services.upsert_products if resource == "products" else services.upsert_orders
    try:
        totals = upsert(
            shop_id,
            _records_from_groups(resource, spool.groups(tracker["groups"]), tracker),
            on_batch=on_batch,
        )
    except OutOfTime:
        spool.close()  # kept: the continuation, queued now, reads it instead of downloading again
        raise
    except BaseException:
        spool.delete()  # a failed run may be retried much later or elsewhere: free the disk now
        raise
    spool.delete()
    return totals


def _download_to_spool(
    client: AdminClient, url: str | None, path: str, state: SyncState, on_progress: Progress | None
) -> bulk.Spool:
    """Stream the file into a new spool at `path` (written aside, then renamed: never half there)."""
    spool = bulk.Spool.create(os.path.dirname(path), prefix=os.path.basename(path) + ".")

    def on_lines(count: int) -> None:
        # Download progress only (a rerun downloads again); committing also keeps the row fresh.
        state.cursor = json.dumps({**_load_cursor(state), "line": count})
        db.session.commit()
        _report(state, on_progress)

    try:
        if url:  # an operation that matched nothing has no file
            spool.write(
                client.stream_lines(url), progress_every=services.DEFAULT_BATCH_ROWS, on_progress=on_lines
            )
        spool.finish()
        spool.close()
        os.replace(spool.path, path)
    except BaseException:
        spool.delete()
        raise
    return bulk.Spool(path)


def _spool_dir() -> str:
    """Where bulk files are spooled: one directory per database, as shop and operation ids are."""
    configured = current_app.config.get("SHOPIFY_BULK_SPOOL_DIR")
    if configured:
        return configured
    # Two deployments (or test runs) on one machine share the temp dir, and their shop ids
    # and operation ids can coincide: a spool must never be read by the wrong database's sync.
    database = str(current_app.config.get("SQLALCHEMY_DATABASE_URI", ""))
    directory = os.path.join(
        tempfile.gettempdir(), "posai-bulk-" + hashlib.sha256(database.encode()).hexdigest()[:16]
    )
    os.makedirs(directory, mode=0o700, exist_ok=True)
    return directory


def _spool_path(shop_id: int, resource: str, operation_id: str) -> str:
    operation = re.sub(r"\W", "_", operation_id.rsplit("/", 1)[-1])
    return os.path.join(_spool_dir(), f"posai-bulk-{shop_id}-{resource}-{operation}.sqlite3")


def _remove_spools(shop_id: int, resource: str) -> None:
    for path in glob.glob(os.path.join(_spool_dir(), f"posai-bulk-{shop_id}-{resource}-*")):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _poll_seconds() -> float:
    return float(current_app.config.get("SHOPIFY_BULK_POLL_SECONDS", 2.0))


def _records_from_groups(
    resource: str, groups: Iterator[bulk.Group], tracker: dict[str, Any]
) -> Iterator[dict]:
    for group in groups:
        if resource == "products":
            record = parse.product_from_graphql(group.parent, group.children)
        else:
            record = parse.order_from_graphql(group.parent, group.children)
            _track_oldest(tracker, record["created_at"])
        # services' batcher hands a batch over right after its last record, so when on_batch
        # runs, every group yielded so far is in a committed batch.
        tracker["groups"] = group.position + 1
        tracker["objects"] = tracker.get("objects", 0) + 1 + len(group.children)
        yield record


def _track_oldest(tracker: dict[str, Any], created_at: datetime | None) -> None:
    if created_at is not None and (tracker["oldest"] is None or created_at < tracker["oldest"]):
        tracker["oldest"] = created_at


def _note_oldest(state: SyncState, tracker: dict[str, Any]) -> None:
    oldest = tracker.get("oldest")
    if oldest is None:
        return
    current = parse.parse_datetime(state.oldest_record_at)
    if current is None or oldest < current:
        state.oldest_record_at = oldest


def _catch_up(
    client: AdminClient, shop: Shop, state: SyncState, resource: str, on_progress: Progress | None
) -> dict[str, Any]:
    shop_id = shop.id
    cursor = _load_cursor(state)
    if cursor.get("mode") != "catch_up":
        since = parse.parse_datetime(state.last_synced_at) - CATCH_UP_OVERLAP
        cursor = {
            "mode": "catch_up",
            "since": since.isoformat(),
            "started": utcnow().isoformat(),
            "after": None,
        }
        state.phase = "catching_up"
        state.processed_count = 0
        state.total_count = None
        state.cursor = json.dumps(cursor)
        db.session.commit()
    search = f"updated_at:>='{parse.parse_datetime(cursor['since']).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
    totals = services.UpsertResult()
    tracker: dict[str, Any] = {"oldest": None}
    while True:
        records, page_info = _fetch_page(client, resource, cursor.get("after"), search)
        for record in records:
            if resource == "orders":
                _track_oldest(tracker, record["created_at"])
        upsert = services.upsert_products if resource == "products" else services.upsert_orders
        totals.add(upsert(shop_id, records))
        cursor["after"] = page_info.get("endCursor") or cursor.get("after")
        state.cursor = json.dumps(cursor)
        state.processed_count = (state.processed_count or 0) + len(records)
        _note_oldest(state, tracker)
        db.session.commit()
        _report(state, on_progress)
        _checkpoint(state)
        _check_time()
        if not page_info.get("hasNextPage"):
            break
    state.status = "done"
    state.phase = "done"
    state.cursor = None
    state.last_synced_at = parse.parse_datetime(cursor["started"])
    state.finished_at = utcnow()
    db.session.commit()
    _report(state, on_progress)
    return _summary(totals)


@dataclass(frozen=True)
class _Paging:
    """How one resource's catch-up pages are read (page sizes live next to the queries)."""

    query: str
    operation: str
    variables: Callable[[str | None, str], dict[str, Any]]
    child_field: str
    parent_key: str
    child_query: str
    child_operation: str
    child_page_size: int
    parser: Callable[[dict, list[dict]], dict]


_PAGES = {
    "products": _Paging(
        queries.PRODUCTS_PAGE,
        "ProductsPage",
        queries.products_page_variables,
        "variants",
        "product",
        queries.PRODUCT_VARIANTS_PAGE,
        "ProductVariantsPage",
        queries.VARIANTS_PER_PAGE,
        parse.product_from_graphql,
    ),
    "orders": _Paging(
        queries.ORDERS_PAGE,
        "OrdersPage",
        queries.orders_page_variables,
        "lineItems",
        "order",
        queries.ORDER_LINE_ITEMS_PAGE,
        "OrderLineItemsPage",
        queries.LINE_ITEMS_PER_PAGE,
        parse.order_from_graphql,
    ),
}


def _fetch_page(
    client: AdminClient, resource: str, after: str | None, search: str
) -> tuple[list[dict], dict]:
    paging = _PAGES[resource]
    data = client.execute(paging.query, paging.variables(after, search), operation=paging.operation)[resource]
    records = []
    for edge in data["edges"]:
        node = edge["node"]
        records.append(paging.parser(node, _all_children(client, node, paging)))
    return records, data["pageInfo"]


def _all_children(client: AdminClient, node: dict, paging: _Paging) -> list[dict]:
    """A node's nested connection: the page's first few, then its own pages until the last."""
    connection = node.pop(paging.child_field)
    children = [e["node"] for e in connection["edges"]]
    page_info = connection["pageInfo"]
    while page_info.get("hasNextPage"):
        variables = {"id": node["id"], "first": paging.child_page_size, "after": page_info["endCursor"]}
        data = client.execute(paging.child_query, variables, operation=paging.child_operation)
        connection = data[paging.parent_key][paging.child_field]
        children.extend(e["node"] for e in connection["edges"])
        page_info = connection["pageInfo"]
    return children


def _summary(totals: services.UpsertResult) -> dict[str, Any]:
    return {
        "orders": totals.orders,
        "line_items": totals.line_items,
        "products": totals.products,
        "variants": totals.variants,
        "stale_skipped": totals.stale_skipped,
        "deleted_skipped": totals.deleted_skipped,
        "new_orders": len(totals.new_order_ids),
    }


def _report(state: SyncState, on_progress: Progress | None) -> None:
    if on_progress is not None:
        on_progress(state)


# ---------------------------------------------------------------- follow-up jobs (other features)


SYNC_JOB_TIMEOUT = 6 * 3600


def enqueue_sync(shop_id: int) -> str | None:
    """Queue a sync of the shop (coalesced per shop); every caller (install, admin, CLI) uses this."""
    return enqueue(
        "ingest",
        "posai_app.ingest.jobs.sync_shop",
        shop_id,
        job_id=f"sync-{shop_id}",
        coalesce=True,
        job_timeout=SYNC_JOB_TIMEOUT,
        retry=RETRY,
    )


def enqueue_training(shop_id: int, trigger: str) -> None:
    """Queue the shop's retrain (coalesced with one already queued or running)."""
    from posai_app.training.services import request_training

    request_training(shop_id, trigger)


def _request_retrain(shop_id: int) -> None:
    """Ask for a debounced retrain after new orders (the training feature enforces the interval)."""
    try:
        from posai_app.training.triggers import request_debounced_retrain
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("posai_app.training"):
            raise
        return
    request_debounced_retrain(shop_id)


# ---------------------------------------------------------------- webhooks


def process_webhook(
    shop_id: int, delivery_id: int | None, topic: str, payload: dict, triggered_at: str | None = None
) -> None:
    """Apply one verified, recorded webhook delivery; marks the delivery processed or failed."""
    handler = WEBHOOK_HANDLERS.get(topic)
    try:
        if handler is None:
            log.info("webhook topic %s for shop %s ignored", topic, shop_id)
        elif topic == "app/uninstalled":
            handle_app_uninstalled(shop_id, payload, triggered_at=triggered_at)
        else:
            handler(shop_id, payload)
        _mark_delivery(delivery_id, "processed" if handler else "ignored")
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        _mark_delivery(delivery_id, "failed", f"{exc.__class__.__name__}: {exc}"[:2000])
        db.session.commit()
        raise


def _mark_delivery(delivery_id: int | None, status: str, error: str | None = None) -> None:
    if delivery_id is None:
        return
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # shop/redact and app/uninstalled remove the shop's deliveries too
        return
    delivery.status = status
    delivery.error = error
    delivery.processed_at = utcnow()


def handle_order(shop_id: int, payload: dict) -> None:
    """orders/create, orders/updated, orders/cancelled: the payload is the whole order."""
    result = services.upsert_orders(shop_id, [parse.order_from_rest(payload)])
    if result.new_order_ids:
        db.session.commit()  # the retrain must see the new order
        _request_retrain(shop_id)


def handle_order_deleted(shop_id: int, payload: dict) -> None:
    services.delete_orders(shop_id, [parse.rest_id(payload, "Order")], reason="deleted")


def handle_product(shop_id: int, payload: dict) -> None:
    """products/create, products/update: fields the payload leaves out keep their stored values."""
    services.upsert_products(shop_id, [parse.product_from_rest(payload)])


def handle_product_deleted(shop_id: int, payload: dict) -> None:
    services.delete_product(shop_id, parse.rest_id(payload, "Product"))


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
    if not services.set_inventory_tracked(shop_id, item["inventory_item_id"], item["tracked"]):
        raise InventoryItemNotStoredError(
            f"inventory item {item['inventory_item_id']} of shop {shop_id} has no stored variant yet"
        )


def handle_inventory_level(shop_id: int, payload: dict) -> None:
    """inventory_levels/update carries one location's level; read the variant's total from Shopify."""
    inventory_item_id = parse.inventory_item_id_from_level(payload)
    variant_id = services.variant_id_for_inventory_item(shop_id, inventory_item_id)
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
        services.set_inventory_quantity(shop_id, variant_id, variant.get("inventoryQuantity"))


def handle_bulk_operation_finish(shop_id: int, payload: dict) -> None:
    """A bulk query finished: make sure a sync job picks it up (a running one is not duplicated)."""
    operation_id = payload.get("admin_graphql_api_id")
    for resource in RESOURCES:
        state = services.get_sync_state(shop_id, resource)
        if state.bulk_operation_id == operation_id and state.status in ("running", "failed"):
            db.session.commit()
            enqueue(
                "ingest", "posai_app.ingest.jobs.sync_shop", shop_id, job_id=f"sync-{shop_id}", coalesce=True
            )
            return


def handle_app_uninstalled(shop_id: int, payload: dict, triggered_at: str | None = None) -> None:
    """Forget the shop (the auth feature's uninstall_shop); a stale uninstall spares a reinstall."""
    try:
        from posai_app.auth.services import uninstall_shop
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("posai_app.auth"):
            raise
        _uninstall_shop_fallback(shop_id)
        return
    uninstall_shop(shop_id, not_after=parse.parse_datetime(triggered_at))


def _uninstall_shop_fallback(shop_id: int) -> None:
    """Until the auth feature lands: forget the token and the shop's data, keep the shop row."""
    from posai_app.tenancy import delete_shop_data

    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return
    shop.uninstalled_at = utcnow()
    shop.access_token = None
    shop.refresh_token = None
    delete_shop_data(shop_id, keep_shop=True)


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
    removed = services.delete_orders(shop_id, order_ids, reason="redacted")
    log.info(
        "customers/redact for shop %s: %d orders, %d line items removed", shop_id, len(order_ids), removed
    )


def handle_shop_redact(shop_id: int, payload: dict) -> None:
    from posai_app.tenancy import delete_shop_data

    removed = delete_shop_data(shop_id)
    log.info("shop/redact for shop %s: removed %s", shop_id, removed)


WEBHOOK_HANDLERS: dict[str, Callable[[int, dict], None]] = {
    "orders/create": handle_order,
    "orders/updated": handle_order,
    "orders/cancelled": handle_order,
    "orders/delete": handle_order_deleted,
    "products/create": handle_product,
    "products/update": handle_product,
    "products/delete": handle_product_deleted,
    "inventory_levels/update": handle_inventory_level,
    "inventory_items/create": handle_inventory_item,
    "inventory_items/update": handle_inventory_item,
    "app/uninstalled": handle_app_uninstalled,
    "bulk_operations/finish": handle_bulk_operation_finish,
    "customers/data_request": handle_customers_data_request,
    "customers/redact": handle_customers_redact,
    "shop/redact": handle_shop_redact,
}

"""Sync jobs (RQ queue "ingest"): a shop's products and orders from the Admin API.

The first sync of a resource reads a bulk operation's file; later ones catch up with pages of
what changed since (a little before) the last one; the nightly reconcile is a catch-up.
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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app

from posai_app.budget import OutOfTime, check_time, run_within_budget
from posai_app.db_stats import analyze_for_shop
from posai_app.extensions import db
from posai_app.heartbeat import heartbeat
from posai_app.ingest import bulk_orders, orders, parse, products, sync_state, upserts
from posai_app.ingest.sync_state import get_sync_state
from posai_app.ingest.upserts import UpsertResult
from posai_app.models import (
    InventoryLevel,
    OrderLineItem,
    OrderVersion,
    ProductVariant,
    Shop,
    SyncState,
    SyncStatus,
    utcnow,
)
from posai_app.queue import RETRY, enqueue, inline_job_running
from posai_app.shopify import bulk, queries
from posai_app.shopify.client import AdminClient, BulkFileGone, client_for_shop
from posai_app.tenancy import of_shop
from posai_app.training.services import request_training
from posai_app.training.triggers import request_debounced_retrain

log = logging.getLogger(__name__)
# The tables an initial bulk import of each resource fills (analyzed for the shop when it ends).
_GROWN_BY = {"orders": (OrderLineItem, OrderVersion), "products": (ProductVariant, InventoryLevel)}

RESOURCES = ("products", "orders")
CATCH_UP_OVERLAP = timedelta(minutes=10)  # re-read a little before the last sync: clocks and indexing lag

Progress = Callable[[SyncState], None]


SYNC_JOB = "posai_app.ingest.sync.sync_shop"


def sync_shop(
    shop_id: int,
    *,
    train: bool = True,
    on_progress: Progress | None = None,
    resources: tuple[str, ...] | list[str] = RESOURCES,
    budget_seconds: float | None = None,
) -> dict[str, Any]:
    """Sync products then orders (bulk the first time, catch-up after), then queue a retrain.

    `on_progress(state)` is called after every commit; `budget_seconds` (default: most of the
    RQ job's timeout) is how long this job works before a continuation takes over.
    """
    done: dict[str, Any] = {}

    def work() -> dict[str, Any]:
        with _heartbeat(shop_id):
            _start_first_bulk_operations(shop_id, [r for r in resources if r not in done])
            for resource in resources:
                done[resource] = _sync_resource(shop_id, resource, on_progress)
        if train and not any(r.get("skipped") for r in done.values()):
            enqueue_training(shop_id, "after_sync")
        return done

    def resume() -> dict[str, Any]:
        return {"train": train, "resources": [r for r in resources if r not in done]}

    return run_within_budget("ingest", SYNC_JOB, shop_id, work, resume, budget_seconds)


def _heartbeat(shop_id: int):
    """Touch the shop's running sync_states rows every HEARTBEAT_SECONDS while the job works.

    A commit does too, but one step (a slow page, a long bulk operation) can outlast DEAD_AFTER.
    When the worker dies, the beat stops with it and `resume_interrupted_sync` queues the sync again.
    """
    return heartbeat(
        f"sync-heartbeat-{shop_id}",
        lambda: (
            sa.update(SyncState)
            .where(of_shop(SyncState, shop_id), SyncState.status == SyncStatus.RUNNING)
            .values(updated_at=utcnow())
        ),
        sync_state.HEARTBEAT_SECONDS,
    )


def resume_interrupted_sync(shop_id: int) -> bool:
    """Queue again a sync whose worker died (RUNNING without a heartbeat for DEAD_AFTER).

    It resumes from its last commit (the cursor in sync_states). The dead job, still
    "started" in RQ until RQ notices (minutes later), is replaced rather than waited for.
    Called by the admin's status requests and by every worker's maintenance pass.
    """
    states = sync_state.sync_states(shop_id)
    if not any(s["interrupted"] for s in states.values()) or inline_job_running(SYNC_JOB_ID.format(shop_id)):
        return False
    log.warning("sync of shop %s: its worker stopped mid-run (no heartbeat); queued again", shop_id)
    enqueue_sync(shop_id)
    return True


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
        request_retrain(shop_id)
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
    state = get_sync_state(shop_id, resource)
    state.status = SyncStatus.RUNNING
    state.last_error = None
    _note_start(state)
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
    except upserts.ShopGone:
        # Uninstalled (or redacted) mid-sync: its rows, sync_states included, are already gone.
        db.session.rollback()
        log.info("sync of shop %s stopped: the shop was deleted meanwhile", shop_id)
        return {"skipped": "not installed"}
    except Exception as exc:
        db.session.rollback()
        state = get_sync_state(shop_id, resource)
        state.status = SyncStatus.FAILED
        state.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    finally:
        if client is not None:
            client.close()
    return result


def _note_start(state: SyncState) -> None:
    """A new run's start (a resumed run, mid-file, keeps the start of the run it continues)."""
    if state.started_at is None or state.phase in (None, "done"):
        state.started_at = utcnow()


def _start_first_bulk_operations(shop_id: int, resources: list[str]) -> None:
    """Start the bulk query of every resource still to be read in bulk, before reading the first.

    From Admin API 2026-01 an app may run up to five bulk queries per shop at once
    (shopify.dev/docs/api/usage/bulk-operations/queries; changelog "Faster bulk operations",
    2025-12-15): Shopify renders the orders file, the long one, while the products file is read.
    Where Shopify refuses (busy: an older version, or other operations of this app), nothing waits
    here; `_bulk_sync` starts that operation in its turn, as before. A resource started ahead keeps
    its status (IDLE, not RUNNING) until its own sync reaches it: a products read that fails, or
    a job that dies, leaves it to be picked up like any resource not yet reached, and the
    bulk_operations/finish webhook does not queue a second sync for it.
    """
    if _installed_shop(shop_id) is None:  # first: a deleted shop's states must not be created
        return
    pending = [
        (resource, state)
        for resource in resources  # in order: where only one may run, it is the first one's
        if (state := get_sync_state(shop_id, resource)).last_synced_at is None and not state.bulk_operation_id
    ]
    if len(pending) < 2:  # one: its own sync starts it
        return
    client: AdminClient | None = None
    try:
        client = client_for_shop(shop_id)
        for resource, state in pending:
            _note_start(state)
            _begin_bulk(client, state, resource, wait_for_other=False)
    except Exception as exc:  # busy, or anything else: each resource's own sync decides and records it
        db.session.rollback()
        log.info("shop %s: bulk queries not started ahead (%s: %s)", shop_id, exc.__class__.__name__, exc)
    finally:
        if client is not None:
            client.close()


def _begin_bulk(client: AdminClient, state: SyncState, resource: str, *, wait_for_other: bool) -> None:
    """Start the resource's bulk query and commit it as the sync's operation, read from line 0."""
    inner = queries.BULK_PRODUCTS if resource == "products" else queries.bulk_orders()
    waiting = {} if wait_for_other else {"wait_for_other": 0.0}
    operation = bulk.start_bulk_query(client, inner, poll_interval=_poll_seconds(), **waiting)
    _remove_spools(state.shop_id, resource)  # files of operations no run will read again
    state.bulk_operation_id = operation["id"]
    state.cursor = json.dumps({"mode": "bulk", "line": 0, "groups": 0})
    state.phase = "bulk_running"
    state.processed_count = 0
    state.total_count = None
    db.session.commit()


def load_cursor(state: SyncState) -> dict[str, Any]:
    try:
        return json.loads(state.cursor) if state.cursor else {}
    except ValueError:
        return {}


def _bulk_sync(
    client: AdminClient, shop: Shop, state: SyncState, resource: str, on_progress: Progress | None
) -> dict[str, Any]:
    shop_id = shop.id
    cursor = load_cursor(state)
    operation = None
    if state.bulk_operation_id and cursor.get("mode") == "bulk":
        operation = bulk.get_bulk_operation(client, state.bulk_operation_id)
        if operation is None or operation.get("status") in {"FAILED", "CANCELED", "EXPIRED"}:
            operation = None
    if operation is None:
        _begin_bulk(client, state, resource, wait_for_other=True)
        cursor = load_cursor(state)
        _report(state, on_progress)

    def on_poll(op: dict) -> None:
        if op.get("objectCount") is not None:
            state.total_count = int(op["objectCount"])
        db.session.commit()
        _report(state, on_progress)
        if op.get("status") != "COMPLETED":
            check_time()

    poll = _poll_seconds()
    operation = bulk.wait_for_bulk_operation(
        client, state.bulk_operation_id, poll_interval=poll, on_poll=on_poll
    )
    state.phase = "downloading"
    state.total_count = int(operation.get("objectCount") or 0)
    db.session.commit()
    _report(state, on_progress)

    if "groups" not in cursor and not cursor.get("stream"):  # written before files were spooled
        cursor, state.processed_count = {"mode": "bulk", "line": 0, "groups": 0}, 0
    tracker = {
        "groups": int(cursor.get("groups") or 0),
        "objects": state.processed_count or 0,
        "oldest": None,
    }
    totals = _import_bulk_file(client, shop_id, state, resource, operation, tracker, on_progress)
    finished_at = utcnow()
    state.status = SyncStatus.DONE
    state.phase = "done"
    state.cursor = None
    state.processed_count = state.total_count or state.processed_count
    state.last_synced_at = parse.parse_datetime(operation.get("createdAt")) or state.started_at or finished_at
    state.finished_at = finished_at
    if resource == "orders":
        state.all_history = "read_all_orders" in (shop.scopes or "").split(",")
    db.session.commit()
    # The shop's first training and admin queries come next: plan them on statistics of its rows.
    analyze_for_shop(shop_id, *_GROWN_BY[resource])
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
) -> UpsertResult:
    """Spool the operation's file to disk, then upsert its groups from the first uncommitted one.

    The cursor's `groups` (parents committed, in file order) is the resume point: a rerun
    reads the same file again (same operation) and skips that many parents, so it ends with
    exactly the rows of an uninterrupted run. `line` only shows how far the download got.
    Orders on PostgreSQL are not spooled: `_stream_bulk_orders`.
    """
    if resource == "orders" and db.engine.dialect.name == "postgresql":
        return _stream_bulk_orders(client, shop_id, state, operation, tracker, on_progress)
    path = _spool_path(shop_id, resource, state.bulk_operation_id or operation["id"])
    spool = bulk.Spool.open_complete(path)
    if spool is None:
        spool = _download_to_spool(client, operation.get("url"), path, state, on_progress)

    def on_batch(_: UpsertResult) -> None:
        state.cursor = json.dumps({"mode": "bulk", "line": spool.lines, "groups": tracker["groups"]})
        state.processed_count = tracker["objects"]
        _note_oldest(state, tracker)
        db.session.commit()
        _report(state, on_progress)
        check_time()

    groups = spool.groups(tracker["groups"])
    # Products (on any database) and SQLite's orders: through the record dicts.
    upsert = products.upsert_products if resource == "products" else orders.upsert_orders
    records = _records_from_groups(resource, groups, tracker)
    try:
        try:
            totals = upsert(shop_id, records, on_batch=on_batch)
        finally:
            records.close()  # the reader lets the spool go before it is closed or deleted
    except OutOfTime:
        spool.close()  # kept: the continuation, queued now, reads it instead of downloading again
        raise
    except BaseException:
        spool.delete()  # a failed run may be retried much later or elsewhere: free the disk now
        raise
    spool.delete()
    return totals


def _stream_bulk_orders(
    client: AdminClient,
    shop_id: int,
    state: SyncState,
    operation: dict,
    tracker: dict[str, Any],
    on_progress: Progress | None,
) -> UpsertResult:
    """The operation's orders file written as it downloads (`ingest.bulk_orders`, PostgreSQL).

    The cursor's `line` (with `stream`) is the resume point: every line before it is written, so a
    rerun downloads the same file again and parses from there. A cursor of the spooled reader
    (`groups`) counts parents, not lines: such a run starts the file again (writes are idempotent).
    """
    cursor = load_cursor(state)
    start = int(cursor.get("line") or 0) if cursor.get("stream") else 0
    if start == 0:
        tracker["objects"] = 0  # the file from its first line (a spooled reader's count included)
    _remove_spools(shop_id, "orders")  # a spooled read's file, left by an earlier version of this job
    url = operation.get("url")  # an operation that matched nothing has no file

    def on_batch(_: UpsertResult, batch: bulk_orders.Batch) -> None:
        state.cursor = json.dumps({"mode": "bulk", "stream": True, "line": batch.end_line})
        tracker["objects"] += batch.objects
        state.processed_count = tracker["objects"]
        _track_oldest(tracker, batch.oldest)
        _note_oldest(state, tracker)
        db.session.commit()
        _report(state, on_progress)
        check_time()

    return bulk_orders.import_orders(
        shop_id,
        client.stream_lines(url) if url else (),
        start_line=start,
        on_batch=on_batch,
        reread=(lambda: client.stream_lines(url)) if url else None,
    )


def _download_to_spool(
    client: AdminClient, url: str | None, path: str, state: SyncState, on_progress: Progress | None
) -> bulk.Spool:
    """Stream the file into a new spool at `path` (written aside, then renamed: never half there)."""
    spool = bulk.Spool.create(os.path.dirname(path), prefix=os.path.basename(path) + ".")

    def on_lines(count: int) -> None:
        # Download progress only (a rerun downloads again); committing also keeps the row fresh.
        state.cursor = json.dumps({**load_cursor(state), "line": count})
        db.session.commit()
        _report(state, on_progress)

    try:
        if url:  # an operation that matched nothing has no file
            every = upserts.BULK_BATCH_ROWS
            spool.write(client.stream_lines(url), progress_every=every, on_progress=on_lines)
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
            for variant in group.children:  # the bulk query reads every level: none listed is none
                variant.setdefault("__children", [])
            record = parse.product_from_graphql(group.parent, group.children)
        else:
            record = parse.order_from_graphql(group.parent, group.children)
            _track_oldest(tracker, record["created_at"])
        # services' batcher hands a batch over right after its last record, so when on_batch
        # runs, every group yielded so far is in a committed batch.
        _count(tracker, group.position, 1 + len(group.children))
        yield record


def _count(tracker: dict[str, Any], position: int, objects: int) -> None:
    """A group handed on: the resume point moves past it, and its objects are counted."""
    tracker["groups"] = position + 1
    tracker["objects"] = tracker.get("objects", 0) + objects


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
    cursor = load_cursor(state)
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
    totals = UpsertResult()
    tracker: dict[str, Any] = {"oldest": None}
    while True:
        records, page_info = _fetch_page(client, resource, cursor.get("after"), search)
        for record in records:
            if resource == "orders":
                _track_oldest(tracker, record["created_at"])
        upsert = products.upsert_products if resource == "products" else orders.upsert_orders
        totals.add(upsert(shop_id, records))
        cursor["after"] = page_info.get("endCursor") or cursor.get("after")
        state.cursor = json.dumps(cursor)
        state.processed_count = (state.processed_count or 0) + len(records)
        _note_oldest(state, tracker)
        db.session.commit()
        _report(state, on_progress)
        check_time()
        if not page_info.get("hasNextPage"):
            break
    state.status = SyncStatus.DONE
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
    child_variables: dict[str, Any] = field(default_factory=dict)  # beside id/first/after


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
        {"levelFirst": queries.LEVELS_PER_ITEM},
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
        children = _all_children(client, node, paging)
        if resource == "products":
            for variant in children:
                _all_levels(client, variant)
        records.append(paging.parser(node, children))
    return records, data["pageInfo"]


def _all_levels(client: AdminClient, variant: dict) -> None:
    """Complete a variant's `inventoryItem.inventoryLevels` (its first LEVELS_PER_ITEM came with it)."""
    item = variant.get("inventoryItem") or {}
    connection = item.get("inventoryLevels")
    if not connection or not item.get("id"):
        return
    page_info = connection.get("pageInfo") or {}
    while page_info.get("hasNextPage"):
        variables = {"id": item["id"], "first": queries.LEVELS_PER_PAGE, "after": page_info["endCursor"]}
        data = client.execute(
            queries.INVENTORY_ITEM_LEVELS_PAGE, variables, operation="InventoryItemLevelsPage"
        )
        more = (data.get("inventoryItem") or {}).get("inventoryLevels") or {}
        connection["edges"].extend(more.get("edges") or [])
        page_info = more.get("pageInfo") or {}


def _all_children(client: AdminClient, node: dict, paging: _Paging) -> list[dict]:
    """A node's nested connection: the page's first few, then its own pages until the last."""
    connection = node.pop(paging.child_field)
    children = [e["node"] for e in connection["edges"]]
    page_info = connection["pageInfo"]
    while page_info.get("hasNextPage"):
        variables = {
            "id": node["id"],
            "first": paging.child_page_size,
            "after": page_info["endCursor"],
            **paging.child_variables,
        }
        data = client.execute(paging.child_query, variables, operation=paging.child_operation)
        connection = data[paging.parent_key][paging.child_field]
        children.extend(e["node"] for e in connection["edges"])
        page_info = connection["pageInfo"]
    return children


def _summary(totals: UpsertResult) -> dict[str, Any]:
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


# ---------------------------------------------------------------- queueing


SYNC_JOB_TIMEOUT = 6 * 3600
SYNC_JOB_ID = "sync-{}"  # one sync job per shop: a second request while it is queued folds into it


def enqueue_sync(shop_id: int) -> str | None:
    """Queue a sync of the shop (coalesced per shop); every caller (install, admin, CLI) uses this."""
    return enqueue(
        "ingest",
        SYNC_JOB,
        shop_id,
        job_id=SYNC_JOB_ID.format(shop_id),
        coalesce=True,
        job_timeout=SYNC_JOB_TIMEOUT,
        retry=RETRY,
        replace_started=True,  # only a "started" job whose worker stopped reporting (queue._abandoned)
    )


def enqueue_training(shop_id: int, trigger: str) -> None:
    """Queue the shop's retrain (coalesced with one already queued or running)."""
    request_training(shop_id, trigger)


def request_retrain(shop_id: int) -> None:
    """Ask for a debounced retrain after new orders (the training feature enforces the interval)."""
    request_debounced_retrain(shop_id)

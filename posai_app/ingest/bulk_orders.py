"""A bulk file's orders into PostgreSQL as the file streams in: the initial sync's hot path.

```
download ─▶ reader thread: every line parsed once; an Order line → its header (a small dict),
            a LineItem line → one COPY text row; cut into batches of BULK_BATCH_ROWS lines
         ─▶ the job's thread, one transaction per batch: the shop's lock; the batch's headers
            through the guards of `orders.upsert_orders` (tombstones, stored versions, pruning),
            staged in bulk_order_headers with their order_versions; its line items COPYed into a
            temp table and written by one INSERT … SELECT … JOIN bulk_order_headers
            JOIN order_versions … ON CONFLICT … WHERE <updated_at guard>; the caller commits
            the sync's cursor (lines written) with it
         ─▶ after the last line: tagged orders (the app's impact properties: rare) read again
            from the file for impact.attribution; the shop's headers removed
```

Why this shape: a bulk file lists each order before its line items, but since Admin API 2026-01
(`groupObjects` false by default) a line item may come anywhere after its order, so an order is
complete only at the end of the file. A line item's row needs only its order's header, though, and
the header always comes first: so nothing waits for the end of the file, no spool is written or
read, and parsing the next batch (Python, one core) overlaps with PostgreSQL writing this one (the
other core; the job's thread waits on the socket without the GIL). Pruning what an order no longer
has is done when its header arrives (every stored line of an older version goes; the payload's
lines follow, and lines of its own version are this file's), so the stored rows end as
`orders.upsert_orders` leaves them
(tests/ingest/test_bulk_copy_path.py holds the two to each other). A webhook that writes a newer
version of an order, or deletes it, while the file streams in wins: each line item joins its
order's stored version and is written only while that version is the file's.

A shop's first sync writes only new rows, so each batch's line items are first tried as a plain
INSERT (no ON CONFLICT: PostgreSQL's speculative insertion cost a third of the statement) inside
a savepoint; the first unique violation rolls that batch back to the guarded upsert, which the
rest of the file then keeps. A re-sync of stored rows fails its first try at its first row, so
the try costs at most part of one batch.

Resumable: a batch commits with the number of lines written; a rerun reads the same operation's
file again from there (the headers of the lines before it are still staged). SQLite, catch-up
pages and webhooks keep the dict path (`orders.upsert_orders`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from posai_app.budget import check_time
from posai_app.extensions import db, insert
from posai_app.id_lists import among
from posai_app.impact import attribution
from posai_app.ingest import orders, parse, prefetch, upserts
from posai_app.ingest.upserts import UpsertResult
from posai_app.models import BulkOrderHeader, OrderLineItem, OrderVersion
from posai_app.shopify import bulk
from posai_app.shopify.gid import from_gid
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)

_BATCHES_AHEAD = 2  # parsed batches waiting for the writer: memory is a few batches of COPY text
_ATTRIBUTION_BATCH = 500  # tagged orders handed to impact.attribution at a time
_HEADER_COLUMNS = (*parse.ORDER_COPY_COLUMNS, "is_new", "tagged")
_HEADERS_TEMP = "ingest_bulk_headers"
_LINES_TEMP = "ingest_bulk_lines"
_UNIQUE_VIOLATION = "23505"


@dataclass
class Batch:
    """One batch of a bulk orders file: what the reader parsed, ready for one transaction."""

    headers: list[dict] = field(default_factory=list)  # parse.bulk_order_header
    rows: list[str] = field(default_factory=list)  # parse.bulk_line_row (COPY text, no newline)
    tagged: list[int] = field(default_factory=list)  # orders with a `_posai` line in this batch
    parents: set[str] = field(default_factory=set)  # the GIDs of the orders its line items belong to
    end_line: int = 0  # lines of the file done once this batch is written (the resume point)
    objects: int = 0  # lines of the file in this batch
    oldest: datetime | None = None  # the earliest order created in this batch


def read_batches(
    lines: Iterable[str | bytes], start_line: int = 0, batch_lines: int | None = None
) -> Iterator[Batch]:
    """The file's lines from `start_line` on, parsed into batches of about `batch_lines` lines."""
    try:
        yield from _batches(lines, start_line, batch_lines or upserts.BULK_BATCH_ROWS)
    finally:
        prefetch.close(lines)  # the download's response, closed by the thread that read it


def _batches(lines: Iterable[str | bytes], start_line: int, size: int) -> Iterator[Batch]:
    batch = Batch()
    number = -1
    for number, line in enumerate(lines):
        if number < start_line or not line:
            continue
        node = bulk.loads(line)
        parent = node.get("__parentId")
        if parent is None:
            header = parse.bulk_order_header(node)
            batch.headers.append(header)
            created = header["created_at"]
            if batch.oldest is None or created < batch.oldest:
                batch.oldest = created
        else:
            row = parse.bulk_line_row(node)
            if row is not None:
                batch.rows.append(row)
                batch.parents.add(parent)
            if node.get("customAttributes") and parse.bulk_line_tagged(node):
                batch.tagged.append(from_gid(parent))
        batch.objects += 1
        if batch.objects >= size:
            batch.end_line = number + 1
            yield batch
            batch = Batch()
    if batch.objects:
        batch.end_line = number + 1
        yield batch


def import_orders(
    shop_id: int,
    lines: Iterable[str | bytes],
    *,
    start_line: int = 0,
    batch_lines: int | None = None,
    on_batch: Callable[[UpsertResult, Batch], None] | None = None,
    reread: Callable[[], Iterable[str | bytes]] | None = None,
) -> UpsertResult:
    """Write a bulk orders file's lines (PostgreSQL); the first `start_line` are already written.

    `on_batch(result, batch)` runs after each batch is flushed (the sync commits its cursor
    there); `reread()` gives the file's lines again, for the impact rows of tagged orders.
    Returns what `orders.upsert_orders` returns for the same orders.
    """
    if start_line == 0:
        _forget_headers(shop_id)  # a file read from its start: no earlier file's header may join
    total = UpsertResult()
    writer = _LineWriter()
    batches = prefetch.prefetched(read_batches(lines, start_line, batch_lines), _BATCHES_AHEAD)
    try:
        for batch in batches:
            result = _write_batch(shop_id, batch, writer)
            total.add(result)
            if on_batch is not None:
                on_batch(result, batch)
    finally:
        prefetch.close(batches)
    _attribute_tagged(shop_id, reread)
    _forget_headers(shop_id)
    return total


@dataclass
class _LineWriter:
    """How a file's line items are written: plain INSERTs until one meets a stored row."""

    plain: bool = True

    def write(self, table: sa.Table, stmt, columns: list[str]) -> int:
        if self.plain:
            try:
                with db.session.begin_nested():  # a savepoint: a violation undoes this batch only
                    return upserts.rows_written(stmt)
            except sa.exc.IntegrityError as exc:
                if getattr(exc.orig, "sqlstate", None) != _UNIQUE_VIOLATION:
                    raise
                log.info("line items already stored: the rest of this file is upserted")
                self.plain = False
        return upserts.rows_written(
            upserts.on_conflict_guarded(table, ("shop_id", "line_item_id"), stmt, columns)
        )


def _write_batch(shop_id: int, batch: Batch, writer: _LineWriter) -> UpsertResult:
    result = UpsertResult()
    # The batch commits with the sync's cursor, so a crash that loses its commit loses both and
    # the resumed sync redoes the batch: no need to wait for the WAL flush.
    db.session.execute(sa.text("SET LOCAL synchronous_commit = off"))
    # The shop's lock, then the guards: whole orders are skipped or pruned here, by header.
    applied = orders.guard_headers(shop_id, batch.headers, result)
    if applied:
        new = set(result.new_order_ids)
        _stage_headers(shop_id, applied, new)
        # Impact rows are written and removed with an order's version (attribution.apply_orders,
        # orders.delete_orders): an order with no stored version has none to forget.
        attribution.forget_orders(shop_id, [o["order_id"] for o in applied if o["order_id"] not in new])
    if batch.rows:
        parents = sorted({from_gid(gid) for gid in batch.parents})
        result.line_items = _write_lines(shop_id, "\n".join(batch.rows) + "\n", parents, writer)
    if batch.tagged:
        db.session.execute(
            sa.update(BulkOrderHeader)
            .where(
                of_shop(BulkOrderHeader, shop_id), among(BulkOrderHeader.order_id, sorted(set(batch.tagged)))
            )
            .values(tagged=True)
        )
    return result


def _stage_headers(shop_id: int, applied: list[dict], new: set[int]) -> None:
    """The applied orders' headers into bulk_order_headers, and their versions into order_versions."""
    text = "".join(
        orders.order_copy_row(o, "t" if o["order_id"] in new else "f", "t" if o.get("tagged") else "f")
        for o in applied
    )
    headers = BulkOrderHeader.__table__
    staged = upserts.staged(headers, _HEADER_COLUMNS, lambda copy: copy.write(text), _HEADERS_TEMP)
    shop = sa.literal(shop_id, sa.Integer).label("shop_id")
    columns = ["shop_id", *_HEADER_COLUMNS]
    stmt = insert(headers).from_select(columns, sa.select(shop, *staged.c))
    # A rerun of a batch (after a crash lost its commit) stages the same headers again.
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "order_id"], set_={name: stmt.excluded[name] for name in _HEADER_COLUMNS}
    )
    db.session.execute(stmt)
    versions = OrderVersion.__table__
    columns = ["shop_id", "order_id", "shopify_updated_at"]
    stored = sa.select(shop, staged.c.order_id, staged.c.shopify_updated_at)
    upserts.guarded_upsert(
        versions, ("shop_id", "order_id"), insert(versions).from_select(columns, stored), columns
    )


def _write_lines(shop_id: int, text: str, order_ids: list[int], writer: _LineWriter) -> int:
    """One batch of line items (COPY text) into order_line_items, each with its order's columns,
    while its order's stored version is the file's; returns the rows written."""
    items = OrderLineItem.__table__
    headers = BulkOrderHeader.__table__
    versions = OrderVersion.__table__
    lines = upserts.staged(items, parse.LINE_COPY_COLUMNS, lambda copy: copy.write(text), _LINES_TEMP)
    # The batch's orders first (a few hundred, looked up by key), then the lines joined to them:
    # one probe per order, not per line, and never a scan of the shop's other staged orders.
    current = (
        sa.select(headers)
        .join(
            versions,
            sa.and_(
                of_shop(versions, shop_id),
                among(versions.c.order_id, order_ids),  # by key on both sides, whatever the statistics
                versions.c.order_id == headers.c.order_id,
                versions.c.shopify_updated_at <= headers.c.shopify_updated_at,
            ),
        )
        .where(of_shop(headers, shop_id), among(headers.c.order_id, order_ids))
        .subquery("current_orders")
    )
    of_order = [current.c[name] for name in parse.ORDER_COPY_COLUMNS if name != "order_id"]
    columns = ["shop_id", *parse.LINE_COPY_COLUMNS, *(c.name for c in of_order)]
    joined = sa.select(sa.literal(shop_id, sa.Integer).label("shop_id"), *lines.c, *of_order).select_from(
        lines.join(current, current.c.order_id == lines.c.order_id)
    )
    return writer.write(items, insert(items).from_select(columns, joined), columns)


def _attribute_tagged(shop_id: int, reread: Callable[[], Iterable[str | bytes]] | None) -> None:
    """Impact rows of the file's tagged orders, from a second read of the file (only lines of
    those orders are parsed); each batch of them is checked again under the shop's lock."""
    tagged = sa.select(BulkOrderHeader.order_id).where(
        of_shop(BulkOrderHeader, shop_id), BulkOrderHeader.tagged
    )
    wanted = set(db.session.scalars(tagged))
    if not wanted:
        return
    if reread is None:
        log.warning(
            "shop %s: %d tagged orders left without impact rows (no second read)", shop_id, len(wanted)
        )
        return

    def tagged_objects() -> Iterator[tuple[int, dict]]:
        for number, line in enumerate(reread()):
            if number % 10_000 == 0:
                check_time()  # a second download of a big file: the job's budget still holds
            if not line:
                continue
            keys = bulk.line_keys(line)
            if from_gid(keys.get("__parentId") or keys["id"]) in wanted:
                yield number, bulk.loads(line)

    batch: list[dict] = []
    for group in bulk.join_children(tagged_objects()):
        batch.append(parse.order_from_graphql(group.parent, group.children))
        if len(batch) >= _ATTRIBUTION_BATCH:
            _attribute(shop_id, batch)
            batch = []
    _attribute(shop_id, batch)


def _attribute(shop_id: int, batch: list[dict]) -> None:
    """Impact rows of these tagged orders, those still at the file's version when the lock is held
    (a webhook may have deleted or updated one since its line items were written)."""
    if not batch:
        return
    upserts.hold_shop(shop_id)
    headers, versions = BulkOrderHeader, OrderVersion
    current = dict(
        db.session.execute(
            sa.select(headers.order_id, headers.is_new)
            .join(
                versions,
                sa.and_(
                    of_shop(versions, shop_id),
                    versions.order_id == headers.order_id,
                    versions.shopify_updated_at == headers.shopify_updated_at,
                ),
            )
            .where(of_shop(headers, shop_id), among(headers.order_id, [o["order_id"] for o in batch]))
        ).all()
    )
    chosen = [o for o in batch if o["order_id"] in current]
    attribution.apply_orders(shop_id, chosen, [o["order_id"] for o in chosen if current[o["order_id"]]])


def _forget_headers(shop_id: int) -> None:
    upserts.hold_shop(shop_id)  # first, as every orders writer locks: the shop's row, then rows
    db.session.execute(sa.delete(BulkOrderHeader).where(of_shop(BulkOrderHeader, shop_id)))

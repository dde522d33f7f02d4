"""How ingestion writes: batched, idempotent, order-independent upserts (orders.py and products.py use these).

Every write is an upsert keyed by (shop_id, Shopify id) and guarded by Shopify's
`updated_at`, so a payload applied twice, or an older payload applied after a newer one,
leaves exactly the rows the newest payload describes. Deleted/redacted ids are recorded
as tombstones and never come back. Writers flush; the caller (job, view, CLI) commits.
The dict shapes are documented in docs/ingestion.md and produced by `parse`.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from posai_app.extensions import db, insert
from posai_app.id_lists import SQLITE_CHUNK, among, id_chunks
from posai_app.ingest.parse import parse_datetime, parse_money
from posai_app.inputs import clean_text
from posai_app.models import Shop, ShopifyTombstone, utcnow
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 2000
# Lines per batch of a bulk orders file on PostgreSQL (ingest.bulk_orders) and of a spooled file: each
# batch costs a few fixed round trips and a commit, so bigger batches are what make the import
# run at COPY speed; memory is one batch of COPY text (a few MB).
BULK_BATCH_ROWS = 25_000
ID_CHUNK = SQLITE_CHUNK  # a statement's parameters under SQLite's bound-parameter limit (inventory.py)


@dataclass
class UpsertResult:
    """What a batch of upserts did (counts of records, not statements)."""

    orders: int = 0
    line_items: int = 0
    products: int = 0
    variants: int = 0
    stale_skipped: int = 0
    deleted_skipped: int = 0
    new_order_ids: list[int] = field(default_factory=list)

    def add(self, other: UpsertResult) -> None:
        for name in ("orders", "line_items", "products", "variants", "stale_skipped", "deleted_skipped"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.new_order_ids.extend(other.new_order_ids)


_LOCK_NAMESPACE = {"orders": 51_001, "products": 51_002}


def lock_shop(shop_id: int, resource: str) -> None:
    """Serialise one shop's writes of a resource until commit (PostgreSQL advisory lock).

    Upserts read the stored versions and tombstones, then write; two workers applying
    webhooks for the same order at once must not interleave those steps. Transactions are
    short (one batch), so waiting is brief; SQLite already serialises writers.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            sa.text("SELECT pg_advisory_xact_lock(:namespace, :shop_id)"),
            {"namespace": _LOCK_NAMESPACE[resource], "shop_id": shop_id},
        )


class ShopGone(LookupError):
    """The shop was deleted (uninstalled, redacted) while its data was being written."""


def hold_shop(shop_id: int) -> None:
    """Before writing a shop's order line items: its orders lock, and its row locked FOR KEY SHARE.

    order_line_items has no foreign key to shops (migration 0016): this is that key's check,
    once per batch instead of once per row. A shop deleted before the lock raises ShopGone; one
    deleted after waits for this transaction (`shops.lifecycle.delete_shop_data` locks the row
    FOR UPDATE first, then deletes the line items this batch wrote). Take it before any other
    row lock of the transaction: a delete waiting on the shop's row holds nothing else.
    """
    lock_shop(shop_id, "orders")
    row = db.session.execute(sa.select(Shop.id).where(Shop.id == shop_id).with_for_update(key_share=True))
    if row.first() is None:
        raise ShopGone(f"shop {shop_id} no longer exists")


def tombstoned(shop_id: int, resource: str, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in id_chunks(ids):
        found.update(
            db.session.scalars(
                sa.select(ShopifyTombstone.resource_id).where(
                    of_shop(ShopifyTombstone, shop_id),
                    ShopifyTombstone.resource == resource,
                    among(ShopifyTombstone.resource_id, chunk),
                )
            )
        )
    return found


def stored_versions(shop_id: int, model, key, ids: list[int]) -> dict[int, datetime | None]:
    """The newest stored Shopify updated_at per parent id (orders: order_id, products: product_id)."""
    found: dict[int, datetime | None] = {}
    for chunk in id_chunks(ids):
        rows = db.session.execute(
            sa.select(key, sa.func.max(model.shopify_updated_at))
            .where(of_shop(model, shop_id), among(key, chunk))
            .group_by(key)
        )
        found.update({row[0]: parse_datetime(row[1]) for row in rows})
    return found


def batched(records: Iterable[dict], child_key: str, max_rows: int) -> Iterator[list[dict]]:
    """Group parent records so each batch holds about max_rows child rows."""
    batch: list[dict] = []
    rows = 0
    for record in records:
        batch.append(record)
        rows += max(1, len(record.get(child_key) or ()))
        if rows >= max_rows:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def newest_per_id(records: list[dict], id_key: str, version: Callable[[dict], datetime | None]) -> list[dict]:
    """Within one batch, keep only the newest record per id (a webhook burst can repeat an id)."""
    chosen: dict[int, dict] = {}
    for record in records:
        current = chosen.get(record[id_key])
        if current is None or later_or_equal(version(record), version(current)):
            chosen[record[id_key]] = record
    return list(chosen.values())


def later_or_equal(new: datetime | None, old: datetime | None) -> bool:
    return old is None or (new is not None and new >= old)


def _guard(table, excluded) -> sa.ColumnElement[bool]:
    """The updated_at guard: an upsert only overwrites a row with an equal or newer version."""
    return sa.or_(
        table.c.shopify_updated_at.is_(None),
        excluded.shopify_updated_at >= table.c.shopify_updated_at,
    )


def upsert_rows(table: sa.Table, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE ... WHERE <guard> for many rows sharing the same keys."""
    if not rows:
        return
    _clean_texts(rows)
    columns = list(rows[0])
    if db.engine.dialect.name == "postgresql":
        source = _copy_to_temp_table(table, columns, rows)
        guarded_upsert(table, key, insert(table).from_select(columns, sa.select(*source.c)), columns)
    else:
        guarded_upsert(table, key, insert(table), columns, rows)


def guarded_upsert(table: sa.Table, key, stmt, columns, parameters=None) -> None:
    """Run `stmt` (an INSERT of `columns`) as ON CONFLICT (key) DO UPDATE ... WHERE <guard>."""
    db.session.connection().execute(on_conflict_guarded(table, key, stmt, columns), parameters)


def on_conflict_guarded(table: sa.Table, key, stmt, columns):
    """`stmt` (an INSERT of `columns`) as ON CONFLICT (key) DO UPDATE ... WHERE <guard>."""
    update = {name: stmt.excluded[name] for name in columns if name not in key}
    return stmt.on_conflict_do_update(
        index_elements=list(key), set_=update, where=_guard(table, stmt.excluded)
    )


def rows_written(stmt) -> int:
    """Execute an INSERT and return the rows it wrote (PostgreSQL).

    SQLAlchemy reports -1 for an INSERT … SELECT it runs itself; the driver knows.
    """
    compiled = stmt.compile(dialect=db.engine.dialect)
    return db.session.connection().exec_driver_sql(str(compiled), compiled.params).rowcount


def _clean_texts(rows: list[dict[str, Any]]) -> None:
    """Remove control characters (NUL above all, which PostgreSQL refuses) from text, in place."""
    for row in rows:
        for name, value in row.items():
            if type(value) is str:
                cleaned = clean_text(value)
                if cleaned is not value:
                    row[name] = cleaned


def _copy_to_temp_table(table: sa.Table, columns: list[str], rows: list[dict[str, Any]]) -> sa.TableClause:
    """COPY the rows into a session-local temp table shaped like `columns` of `table`.

    COPY is an order of magnitude faster than INSERT statements for the initial sync;
    the upsert then runs as one INSERT ... SELECT inside the same transaction.
    """

    def write(copy) -> None:
        for row in rows:
            copy.write_row([row[name] for name in columns])

    return staged(table, columns, write)


def staged(table: sa.Table, columns, write: Callable, name: str | None = None) -> sa.TableClause:
    """An empty session-local temp table shaped like `columns` of `table`, filled by `write(copy)`
    through one COPY (rows or ready COPY text); named after the columns unless `name` is given."""
    temp_name = name or f"ingest_{table.name}_{zlib.crc32(','.join(columns).encode()):08x}"
    column_list = ", ".join(columns)
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp_name} AS "  # noqa: S608  (names are ours, not input)
            f"SELECT {column_list} FROM {table.name} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {temp_name}")
        with cursor.copy(f"COPY {temp_name} ({column_list}) FROM STDIN") as copy:
            write(copy)
    return sa.table(temp_name, *[sa.column(name) for name in columns])


def upsert_in_batches(
    shop_id: int,
    records: Iterable[dict],
    child_key: str,
    batch_rows: int | None,
    upsert_batch: Callable[[int, list[dict]], UpsertResult],
    on_batch: Callable[[UpsertResult], None] | None,
) -> UpsertResult:
    """Stream records in batches of about `batch_rows` child rows; report each batch, sum them all."""
    total = UpsertResult()
    for batch in batched(records, child_key, batch_rows or DEFAULT_BATCH_ROWS):
        result = upsert_batch(shop_id, batch)
        total.add(result)
        if on_batch is not None:
            on_batch(result)
    return total


def money(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) or value is None else parse_money(value)


def tombstone(shop_id: int, resource: str, ids: list[int], reason: str) -> None:
    now = utcnow()
    stmt = insert(ShopifyTombstone).on_conflict_do_nothing(
        index_elements=["shop_id", "resource", "resource_id"]
    )
    db.session.execute(
        stmt,
        [
            {"shop_id": shop_id, "resource": resource, "resource_id": i, "reason": reason, "deleted_at": now}
            for i in ids
        ],
    )

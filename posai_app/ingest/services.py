"""Write Shopify products and orders into the database: batched, idempotent, order-independent.

Every write is an upsert keyed by (shop_id, Shopify id) and guarded by Shopify's
`updated_at`, so a payload applied twice, or an older payload applied after a newer one,
leaves exactly the rows the newest payload describes. Deleted/redacted ids are recorded
as tombstones and never come back. Services flush; the caller (job, view, CLI) commits.
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

from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.ingest.parse import parse_datetime, parse_money
from posai_app.inputs import clean_text
from posai_app.models import OrderLineItem, OrderVersion, ProductVariant, ShopifyTombstone, SyncState, utcnow
from posai_app.tenancy import select_for_shop

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 2000
_ID_CHUNK = 900  # keeps IN (...) lists under SQLite's bound-parameter limit
_MAX_PARAMS = 30_000  # per statement: under SQLite's 32,766 and PostgreSQL's 65,535


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


def _insert(model):
    """INSERT for the bound dialect (both offer on_conflict_do_update / do_nothing)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(model)


_LOCK_NAMESPACE = {"orders": 51_001, "products": 51_002}


def _lock_shop(shop_id: int, resource: str) -> None:
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


def _chunks(values: list, size: int = _ID_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _tombstoned(shop_id: int, resource: str, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for chunk in _chunks(ids):
        found.update(
            db.session.scalars(
                sa.select(ShopifyTombstone.resource_id).where(
                    ShopifyTombstone.shop_id == shop_id,
                    ShopifyTombstone.resource == resource,
                    ShopifyTombstone.resource_id.in_(chunk),
                )
            )
        )
    return found


def _versions(shop_id: int, model, key, ids: list[int]) -> dict[int, datetime | None]:
    """The newest stored Shopify updated_at per parent id (orders: order_id, products: product_id)."""
    found: dict[int, datetime | None] = {}
    for chunk in _chunks(ids):
        rows = db.session.execute(
            sa.select(key, sa.func.max(model.shopify_updated_at))
            .where(model.shop_id == shop_id, key.in_(chunk))
            .group_by(key)
        )
        found.update({row[0]: parse_datetime(row[1]) for row in rows})
    return found


def _batched(records: Iterable[dict], child_key: str, max_rows: int) -> Iterator[list[dict]]:
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


def _newest_per_id(
    records: list[dict], id_key: str, version: Callable[[dict], datetime | None]
) -> list[dict]:
    """Within one batch, keep only the newest record per id (a webhook burst can repeat an id)."""
    chosen: dict[int, dict] = {}
    for record in records:
        current = chosen.get(record[id_key])
        if current is None or _later_or_equal(version(record), version(current)):
            chosen[record[id_key]] = record
    return list(chosen.values())


def _later_or_equal(new: datetime | None, old: datetime | None) -> bool:
    return old is None or (new is not None and new >= old)


def _guard(table, excluded) -> sa.ColumnElement[bool]:
    """The updated_at guard: an upsert only overwrites a row with an equal or newer version."""
    return sa.or_(
        table.c.shopify_updated_at.is_(None),
        excluded.shopify_updated_at >= table.c.shopify_updated_at,
    )


def _upsert_rows(table: sa.Table, key: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE ... WHERE <guard> for many rows sharing the same keys."""
    if not rows:
        return
    _clean_texts(rows)
    columns = list(rows[0])
    if db.engine.dialect.name == "postgresql":
        source = _copy_to_temp_table(table, columns, rows)
        stmt = _insert(table).from_select(columns, sa.select(*[source.c[name] for name in columns]))
        parameters = None
    else:
        stmt = _insert(table)
        parameters = rows
    update = {name: stmt.excluded[name] for name in columns if name not in key}
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key), set_=update, where=_guard(table, stmt.excluded)
    )
    db.session.connection().execute(stmt, parameters)


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
    temp_name = f"ingest_{table.name}_{zlib.crc32(','.join(columns).encode()):08x}"
    column_list = ", ".join(columns)
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {temp_name} AS "  # noqa: S608  (names are ours, not input)
            f"SELECT {column_list} FROM {table.name} WITH NO DATA"
        )
        cursor.execute(f"TRUNCATE {temp_name}")
        with cursor.copy(f"COPY {temp_name} ({column_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
    return sa.table(temp_name, *[sa.column(name) for name in columns])


# ---------------------------------------------------------------- orders


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
    return _upsert_in_batches(shop_id, orders, "line_items", batch_rows, _upsert_order_batch, on_batch)


def _upsert_in_batches(
    shop_id: int,
    records: Iterable[dict],
    child_key: str,
    batch_rows: int | None,
    upsert_batch: Callable[[int, list[dict]], UpsertResult],
    on_batch: Callable[[UpsertResult], None] | None,
) -> UpsertResult:
    """Stream records in batches of about `batch_rows` child rows; report each batch, sum them all."""
    total = UpsertResult()
    for batch in _batched(records, child_key, batch_rows or DEFAULT_BATCH_ROWS):
        result = upsert_batch(shop_id, batch)
        total.add(result)
        if on_batch is not None:
            on_batch(result)
    return total


def _upsert_order_batch(shop_id: int, batch: list[dict]) -> UpsertResult:
    result = UpsertResult()
    _lock_shop(shop_id, "orders")
    orders = _newest_per_id(batch, "order_id", _order_version)
    ids = [o["order_id"] for o in orders]
    deleted = _tombstoned(shop_id, "order", ids)
    # Versions live per order (order_versions), not only on line items: an order emptied by a
    # newer payload has no line item left to carry its version.
    existing = _versions(shop_id, OrderVersion, OrderVersion.order_id, [i for i in ids if i not in deleted])
    rows: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    for order in orders:
        order_id = order["order_id"]
        if order_id in deleted:
            result.deleted_skipped += 1
            continue
        version = _order_version(order)
        if order_id in existing and not _later_or_equal(version, existing[order_id]):
            result.stale_skipped += 1
            continue
        line_items = order.get("line_items") or []
        if order_id in existing:
            _prune_line_items(shop_id, order_id, [li["line_item_id"] for li in line_items], version)
        else:
            result.new_order_ids.append(order_id)
        result.orders += 1
        versions.append({"shop_id": shop_id, "order_id": order_id, "shopify_updated_at": version})
        created_at = parse_datetime(order["created_at"])
        cancelled_at = parse_datetime(order.get("cancelled_at"))
        for item in line_items:
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
                    "price": _money(item.get("price")),
                    "sku": item.get("sku"),
                    "is_custom_sale": bool(item.get("is_custom_sale", item.get("variant_id") is None)),
                    "cancelled_at": cancelled_at,
                    "shopify_updated_at": version,
                }
            )
    _upsert_rows(OrderLineItem.__table__, ("shop_id", "line_item_id"), rows)
    _upsert_rows(OrderVersion.__table__, ("shop_id", "order_id"), versions)
    result.line_items = len(rows)
    return result


def _prune_line_items(shop_id: int, order_id: int, keep: list[int], version: datetime | None) -> None:
    """Remove line items an order no longer has (edited out), unless they are newer than this payload."""
    condition = [
        OrderLineItem.shop_id == shop_id,
        OrderLineItem.order_id == order_id,
    ]
    if keep:
        condition.append(OrderLineItem.line_item_id.not_in(keep))
    if version is not None:
        condition.append(
            sa.or_(OrderLineItem.shopify_updated_at.is_(None), OrderLineItem.shopify_updated_at <= version)
        )
    db.session.execute(sa.delete(OrderLineItem).where(*condition))


def _money(value: Any) -> Decimal | None:
    return value if isinstance(value, Decimal) or value is None else parse_money(value)


def delete_orders(shop_id: int, order_ids: Iterable[int], *, reason: str = "deleted") -> int:
    """Remove orders and tombstone them so no later payload brings them back; returns line items removed."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return 0
    _lock_shop(shop_id, "orders")
    _tombstone(shop_id, "order", ids, reason)
    removed = 0
    for chunk in _chunks(ids):
        result = db.session.execute(
            sa.delete(OrderLineItem).where(
                OrderLineItem.shop_id == shop_id, OrderLineItem.order_id.in_(chunk)
            )
        )
        removed += result.rowcount or 0
        db.session.execute(
            sa.delete(OrderVersion).where(OrderVersion.shop_id == shop_id, OrderVersion.order_id.in_(chunk))
        )
    return removed


def _tombstone(shop_id: int, resource: str, ids: list[int], reason: str) -> None:
    now = utcnow()
    stmt = _insert(ShopifyTombstone).on_conflict_do_nothing(
        index_elements=["shop_id", "resource", "resource_id"]
    )
    db.session.execute(
        stmt,
        [
            {"shop_id": shop_id, "resource": resource, "resource_id": i, "reason": reason, "deleted_at": now}
            for i in ids
        ],
    )


# ---------------------------------------------------------------- products


def _product_version(product: dict) -> datetime | None:
    versions = [parse_datetime(product.get("updated_at"))]
    versions += [parse_datetime(v.get("updated_at")) for v in product.get("variants") or []]
    present = [v for v in versions if v is not None]
    return max(present) if present else None


def upsert_products(
    shop_id: int,
    products: Iterable[dict],
    *,
    batch_rows: int | None = None,
    on_batch: Callable[[UpsertResult], None] | None = None,
) -> UpsertResult:
    """Upsert products' variants; variants dropped from a newer product payload are marked deleted."""
    return _upsert_in_batches(shop_id, products, "variants", batch_rows, _upsert_product_batch, on_batch)


# Columns a product dict may leave out (the payload did not carry the field): an upsert then
# keeps the stored value, and a new row gets the column's default. (column, dict key, convert)
_PRODUCT_FIELDS = (
    ("product_title", "title", lambda v: v or ""),
    ("status", "status", lambda v: (v or "active").lower()),
    ("is_gift_card", "is_gift_card", bool),
)
_VARIANT_FIELDS = (
    ("inventory_item_id", "inventory_item_id", lambda v: None if v is None else int(v)),
    ("variant_title", "title", lambda v: v),
    ("price", "price", lambda v: _money(v)),
    ("sku", "sku", lambda v: v),
    ("inventory_quantity", "inventory_quantity", lambda v: v),
    ("inventory_tracked", "inventory_tracked", bool),
    ("inventory_policy", "inventory_policy", lambda v: (v or "deny").lower()),
)


def _present(record: dict, key: str) -> bool:
    # is_gift_card None is the GraphQL parser's "not asked", never a real value.
    return key in record and not (key == "is_gift_card" and record[key] is None)


def _upsert_product_batch(shop_id: int, batch: list[dict]) -> UpsertResult:
    result = UpsertResult()
    _lock_shop(shop_id, "products")
    touch(shop_id, "catalog")  # the API's cached catalog rows are reloaded once this commits
    products = _newest_per_id(batch, "product_id", _product_version)
    ids = [p["product_id"] for p in products]
    deleted = _tombstoned(shop_id, "product", ids)
    existing = _versions(
        shop_id, ProductVariant, ProductVariant.product_id, [i for i in ids if i not in deleted]
    )
    # One statement per set of columns: rows only name the columns their payload carried.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for product in products:
        product_id = product["product_id"]
        if product_id in deleted:
            result.deleted_skipped += 1
            continue
        product_version = _product_version(product)
        if product_id in existing and not _later_or_equal(product_version, existing[product_id]):
            result.stale_skipped += 1
            continue
        variants = product.get("variants") or []
        shared = {
            column: convert(product[key])
            for column, key, convert in _PRODUCT_FIELDS
            if _present(product, key)
        }
        if product_id in existing:
            listed = product.get("variant_ids", [v["variant_id"] for v in variants])
            if listed is not None:
                _retire_variants(shop_id, product_id, listed, product_version)
                unsent = set(listed) - {int(v["variant_id"]) for v in variants}
                if unsent and shared:
                    _update_unsent_variants(shop_id, product_id, sorted(unsent), shared, product_version)
        result.products += 1
        product_updated = parse_datetime(product.get("updated_at"))
        for variant in variants:
            variant_updated = parse_datetime(variant.get("updated_at"))
            row_version = max((v for v in (product_updated, variant_updated) if v is not None), default=None)
            row: dict[str, Any] = {
                "shop_id": shop_id,
                "variant_id": int(variant["variant_id"]),
                "product_id": product_id,
                **shared,
                "deleted_at": None,
                "shopify_updated_at": row_version,
            }
            for column, key, convert in _VARIANT_FIELDS:
                if _present(variant, key):
                    row[column] = convert(variant[key])
            by_columns.setdefault(tuple(row), []).append(row)
            result.variants += 1
    for rows in by_columns.values():
        _upsert_rows(ProductVariant.__table__, ("shop_id", "variant_id"), rows)
    return result


def _retire_variants(shop_id: int, product_id: int, keep: list[int], version: datetime | None) -> None:
    condition = [
        ProductVariant.shop_id == shop_id,
        ProductVariant.product_id == product_id,
        ProductVariant.deleted_at.is_(None),
    ]
    if keep:
        condition.append(ProductVariant.variant_id.not_in(keep))
    if version is not None:
        condition.append(
            sa.or_(ProductVariant.shopify_updated_at.is_(None), ProductVariant.shopify_updated_at <= version)
        )
    db.session.execute(sa.update(ProductVariant).where(*condition).values(deleted_at=utcnow()))


def _update_unsent_variants(
    shop_id: int, product_id: int, variant_ids: list[int], shared: dict[str, Any], version: datetime | None
) -> None:
    """Give a product's variants that its payload listed but did not send (101+) its new title/status.

    Their own fields and version stay: only the product-level columns are known for them.
    """
    for chunk in _chunks(variant_ids):
        condition = [
            ProductVariant.shop_id == shop_id,
            ProductVariant.product_id == product_id,
            ProductVariant.variant_id.in_(chunk),
        ]
        if version is not None:
            condition.append(
                sa.or_(
                    ProductVariant.shopify_updated_at.is_(None), ProductVariant.shopify_updated_at <= version
                )
            )
        db.session.execute(sa.update(ProductVariant).where(*condition).values(**shared))


def delete_product(shop_id: int, product_id: int) -> int:
    """Mark a product's variants deleted and tombstone it; returns the variants marked."""
    _lock_shop(shop_id, "products")
    touch(shop_id, "catalog")
    _tombstone(shop_id, "product", [int(product_id)], "deleted")
    result = db.session.execute(
        sa.update(ProductVariant)
        .where(
            ProductVariant.shop_id == shop_id,
            ProductVariant.product_id == int(product_id),
            ProductVariant.deleted_at.is_(None),
        )
        .values(deleted_at=utcnow())
    )
    return result.rowcount or 0


def set_inventory_quantity(shop_id: int, variant_id: int, quantity: int | None) -> bool:
    """Store a variant's current total available quantity (read fresh from Shopify); False if unknown."""
    touch(shop_id, "catalog")
    result = db.session.execute(
        sa.update(ProductVariant)
        .where(ProductVariant.shop_id == shop_id, ProductVariant.variant_id == int(variant_id))
        .values(inventory_quantity=quantity)
    )
    return bool(result.rowcount)


def set_inventory_tracked(shop_id: int, inventory_item_id: int, tracked: bool) -> int:
    """Store whether Shopify tracks the stock of an inventory item's variant; returns the rows changed.

    InventoryItem.tracked is the only source of this since API 2024-07 (product webhooks
    no longer say). No row means the variant is not stored yet.
    """
    touch(shop_id, "catalog")
    result = db.session.execute(
        sa.update(ProductVariant)
        .where(ProductVariant.shop_id == shop_id, ProductVariant.inventory_item_id == int(inventory_item_id))
        .values(inventory_tracked=bool(tracked))
    )
    return result.rowcount or 0


def variant_id_for_inventory_item(shop_id: int, inventory_item_id: int) -> int | None:
    return db.session.scalar(
        sa.select(ProductVariant.variant_id).where(
            ProductVariant.shop_id == shop_id, ProductVariant.inventory_item_id == int(inventory_item_id)
        )
    )


# ---------------------------------------------------------------- sync state


def get_sync_state(shop_id: int, resource: str) -> SyncState:
    """The shop's sync_states row for "products" or "orders", created on first use."""
    state = db.session.scalar(select_for_shop(SyncState, shop_id).where(SyncState.resource == resource))
    if state is None:
        state = SyncState(shop_id=shop_id, resource=resource, status="idle", processed_count=0)
        db.session.add(state)
        db.session.flush()
    return state


def sync_summary(shop_id: int) -> dict[str, dict[str, Any]]:
    """Progress of each resource's sync, for the admin page and the CLI."""
    states = db.session.scalars(select_for_shop(SyncState, shop_id)).all()
    return {
        s.resource: {
            "status": s.status,
            "phase": s.phase,
            "processed": s.processed_count,
            "total": s.total_count,
            "oldest_record_at": s.oldest_record_at.isoformat() if s.oldest_record_at else None,
            "all_history": s.all_history,
            "last_synced_at": s.last_synced_at.isoformat() if s.last_synced_at else None,
            "last_error": s.last_error,
        }
        for s in states
    }


def count_rows(shop_id: int) -> dict[str, int]:
    """Stored orders, line items and live variants of a shop."""
    return {
        "orders": db.session.scalar(
            sa.select(sa.func.count(sa.distinct(OrderLineItem.order_id))).where(
                OrderLineItem.shop_id == shop_id
            )
        )
        or 0,
        "line_items": db.session.scalar(
            sa.select(sa.func.count()).select_from(OrderLineItem).where(OrderLineItem.shop_id == shop_id)
        )
        or 0,
        "variants": db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ProductVariant)
            .where(ProductVariant.shop_id == shop_id, ProductVariant.deleted_at.is_(None))
        )
        or 0,
    }

"""Products into product_variants: upsert (fields a payload leaves out are kept), delete, stock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.id_lists import among, id_chunks
from posai_app.ingest import inventory, upserts
from posai_app.ingest.parse import parse_datetime
from posai_app.ingest.upserts import UpsertResult
from posai_app.models import ProductVariant, utcnow
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)


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
    return upserts.upsert_in_batches(
        shop_id, products, "variants", batch_rows, _upsert_product_batch, on_batch
    )


# Columns a product dict may leave out (the payload did not carry the field): an upsert then
# keeps the stored value, and a new row gets the column's default. (column, dict key, convert)
_PRODUCT_FIELDS = (
    ("product_title", "title", lambda v: v or ""),
    ("status", "status", lambda v: (v or "active").lower()),
    ("is_gift_card", "is_gift_card", bool),
    ("product_type", "product_type", lambda v: v or ""),
    ("vendor", "vendor", lambda v: v or ""),
    ("tags", "tags", lambda v: v or ""),
)


_VARIANT_FIELDS = (
    ("inventory_item_id", "inventory_item_id", lambda v: None if v is None else int(v)),
    ("variant_title", "title", lambda v: v),
    ("price", "price", lambda v: upserts.money(v)),
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
    upserts.lock_shop(shop_id, "products")
    touch(shop_id, "catalog")  # the API's cached catalog rows are reloaded once this commits
    products = upserts.newest_per_id(batch, "product_id", _product_version)
    ids = [p["product_id"] for p in products]
    deleted = upserts.tombstoned(shop_id, "product", ids)
    existing = upserts.stored_versions(
        shop_id, ProductVariant, ProductVariant.product_id, [i for i in ids if i not in deleted]
    )
    # One statement per set of columns: rows only name the columns their payload carried.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    levels_by_item: dict[int, list[dict]] = {}  # stock per location, where the payload carried it
    for product in products:
        product_id = product["product_id"]
        if product_id in deleted:
            result.deleted_skipped += 1
            continue
        product_version = _product_version(product)
        if product_id in existing and not upserts.later_or_equal(product_version, existing[product_id]):
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
            if "inventory_levels" in variant and variant.get("inventory_item_id") is not None:
                levels_by_item[int(variant["inventory_item_id"])] = variant["inventory_levels"]
    for rows in by_columns.values():
        upserts.upsert_rows(ProductVariant.__table__, ("shop_id", "variant_id"), rows)
    if levels_by_item:
        inventory.replace_item_levels(shop_id, levels_by_item)
    return result


def _retire_variants(shop_id: int, product_id: int, keep: list[int], version: datetime | None) -> None:
    condition = [
        of_shop(ProductVariant, shop_id),
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
    for chunk in id_chunks(variant_ids):
        condition = [
            of_shop(ProductVariant, shop_id),
            ProductVariant.product_id == product_id,
            among(ProductVariant.variant_id, chunk),
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
    upserts.lock_shop(shop_id, "products")
    touch(shop_id, "catalog")
    upserts.tombstone(shop_id, "product", [int(product_id)], "deleted")
    result = db.session.execute(
        sa.update(ProductVariant)
        .where(
            of_shop(ProductVariant, shop_id),
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
        .where(of_shop(ProductVariant, shop_id), ProductVariant.variant_id == int(variant_id))
        .values(inventory_quantity=quantity)
    )
    return bool(result.rowcount)


def set_inventory_tracked(
    shop_id: int, inventory_item_id: int, tracked: bool, updated_at: datetime | None = None
) -> int:
    """Store whether Shopify tracks the stock of an inventory item's variant; returns the variants
    stored for that item (0: the variant is not stored yet), whether or not this changed them.

    InventoryItem.tracked is the only source of this since API 2024-07 (product webhooks
    no longer say). Versioned by the item's `updated_at`: an inventory_items delivery older
    than the one already applied changes nothing, so any delivery order ends the same.
    """
    touch(shop_id, "catalog")
    item = [of_shop(ProductVariant, shop_id), ProductVariant.inventory_item_id == int(inventory_item_id)]
    guard, values = [], {"inventory_tracked": bool(tracked)}
    if updated_at is not None:
        values["inventory_item_updated_at"] = updated_at
        guard.append(
            sa.or_(
                ProductVariant.inventory_item_updated_at.is_(None),
                ProductVariant.inventory_item_updated_at <= updated_at,
            )
        )
    result = db.session.execute(sa.update(ProductVariant).where(*item, *guard).values(**values))
    if result.rowcount:
        return result.rowcount
    return db.session.scalar(sa.select(sa.func.count()).select_from(ProductVariant).where(*item)) or 0


def variant_id_for_inventory_item(shop_id: int, inventory_item_id: int) -> int | None:
    return db.session.scalar(
        sa.select(ProductVariant.variant_id).where(
            of_shop(ProductVariant, shop_id), ProductVariant.inventory_item_id == int(inventory_item_id)
        )
    )

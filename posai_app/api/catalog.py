"""Catalog rows the API filters on (status, stock per location, product, titles, price), cached per process.

A shop's rows are cached one variant at a time as requests need them, so memory follows
what POS carts actually touch, not the catalog's size; so are the variants of each product a
pin names, and the shop's known locations. Any write to the shop's variants, levels or
locations (product webhooks, stock updates, syncs, deletion) raises the "catalog" change
signal (posai_app.cache_signals) and the next request re-reads what it needs in one or two
indexed queries. The merchant's pins are cached whole per shop under the "pins" signal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.ingest.parse import split_tags
from posai_app.models import InventoryLevel, ProductPin, ProductVariant, ShopLocation
from posai_app.tenancy import of_shop

# Bounded by memory as well as by count (as the serving cache is): a thousand small shops' rows
# fit in what 256 shops' did, and a few big catalogs cannot take the process's memory. A cached
# variant row costs ≈ 600 B (VariantInfo with its strings, its dict slot), a product's variant
# ids ≈ 150 B; locations and pins are a few ids per shop.
MAX_CACHED_SHOPS = 10_000
CATALOG_CACHE_BYTES = 64 * 1024 * 1024
PRODUCTS_CACHE_BYTES = 16 * 1024 * 1024
MAX_ROWS_PER_SHOP = 200_000
MAX_PRODUCTS_PER_SHOP = 50_000


def _rows_bytes(known: dict) -> int:
    return 600 * len(known)


def _products_bytes(known: dict) -> int:
    return 150 * len(known)


@dataclass(frozen=True)
class VariantInfo:
    variant_id: int
    product_id: int
    product_title: str
    variant_title: str | None
    price: Decimal | None
    inventory_quantity: int | None
    inventory_tracked: bool
    inventory_policy: str
    status: str
    is_gift_card: bool
    deleted: bool
    # Available quantity per location id (None when no level of the variant is stored).
    levels: Mapping[int, int | None] | None = None
    product_type: str = ""  # casefolded: what exclusions match
    vendor: str = ""
    tags: frozenset[str] = frozenset()


_VARIANTS = ProductVariant.__table__
_LEVELS = InventoryLevel.__table__
_COLUMNS = (
    _VARIANTS.c.variant_id,
    _VARIANTS.c.product_id,
    _VARIANTS.c.product_title,
    _VARIANTS.c.variant_title,
    _VARIANTS.c.price,
    _VARIANTS.c.inventory_quantity,
    _VARIANTS.c.inventory_tracked,
    _VARIANTS.c.inventory_policy,
    _VARIANTS.c.status,
    _VARIANTS.c.is_gift_card,
    _VARIANTS.c.deleted_at,
    _VARIANTS.c.inventory_item_id,
    _VARIANTS.c.product_type,
    _VARIANTS.c.vendor,
    _VARIANTS.c.tags,
)


def _in(column, ids: list[int]):
    if db.engine.dialect.name == "postgresql":
        # One array parameter instead of an IN list of up to a few hundred parameters.
        return column == sa.any_(sa.bindparam(f"ids_{column.name}", ids, type_=ARRAY(sa.BigInteger)))
    return column.in_(ids)


def _levels(shop_id: int, items: list[int]) -> dict[int, dict[int, int | None]]:
    """Each inventory item's available quantity per location (primary key (shop, item, location))."""
    if not items:
        return {}
    rows = db.session.connection().execute(
        sa.select(_LEVELS.c.inventory_item_id, _LEVELS.c.location_id, _LEVELS.c.available).where(
            of_shop(_LEVELS, shop_id), _in(_LEVELS.c.inventory_item_id, items)
        )
    )
    out: dict[int, dict[int, int | None]] = {}
    for item, location, quantity in rows:
        out.setdefault(item, {})[location] = quantity
    return out


def _query(shop_id: int, ids: list[int]) -> dict[int, VariantInfo]:
    """One indexed query (unique (shop_id, variant_id)) for these variants, one for their levels."""
    rows = (
        db.session.connection()
        .execute(sa.select(*_COLUMNS).where(of_shop(_VARIANTS, shop_id), _in(_VARIANTS.c.variant_id, ids)))
        .all()
    )
    levels = _levels(shop_id, sorted({r.inventory_item_id for r in rows if r.inventory_item_id is not None}))
    return {
        r.variant_id: VariantInfo(
            r.variant_id,
            r.product_id,
            r.product_title or "",
            r.variant_title,
            r.price,
            r.inventory_quantity,
            bool(r.inventory_tracked),
            r.inventory_policy or "deny",
            r.status or "active",
            bool(r.is_gift_card),
            r.deleted_at is not None,
            MappingProxyType(levels[r.inventory_item_id]) if r.inventory_item_id in levels else None,
            (r.product_type or "").strip().casefold(),
            (r.vendor or "").strip().casefold(),
            frozenset(t.casefold() for t in split_tags(r.tags)),
        )
        for r in rows
    }


def catalog_rows(shop_id: int, variant_ids: Iterable[int]) -> dict[int, VariantInfo]:
    """The shop's rows for these variant ids (ids the shop does not have are simply absent)."""
    ids = {int(v) for v in variant_ids}
    if not ids:
        return {}
    cache = shop_cache(
        "catalog", "catalog", MAX_CACHED_SHOPS, max_bytes=CATALOG_CACHE_BYTES, size_of=_rows_bytes
    )
    token, known, loaded_at = cache.peek(shop_id)  # the token is read before the query: see cache_signals
    missing = [v for v in ids if known is None or v not in known]
    if missing:
        found = _query(shop_id, missing)
        if known is None or len(known) >= MAX_ROWS_PER_SHOP:
            known, loaded_at = {}, None
        # Filled in place: readers only ever .get() from it, which stays safe under concurrent adds.
        known.update({v: found.get(v) for v in missing})
        cache.put(shop_id, token, known, loaded_at)
    return {v: info for v in ids if (info := known.get(v)) is not None}


def product_variant_ids(shop_id: int, product_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """The live variants of these products (oldest id first: Shopify's creation order), cached per product."""
    ids = {int(p) for p in product_ids}
    if not ids:
        return {}
    cache = shop_cache(
        "catalog-products",
        "catalog",
        MAX_CACHED_SHOPS,
        max_bytes=PRODUCTS_CACHE_BYTES,
        size_of=_products_bytes,
    )
    token, known, loaded_at = cache.peek(shop_id)
    missing = [p for p in ids if known is None or p not in known]
    if missing:
        rows = db.session.connection().execute(
            sa.select(_VARIANTS.c.product_id, _VARIANTS.c.variant_id)
            .where(
                of_shop(_VARIANTS, shop_id),
                _in(_VARIANTS.c.product_id, missing),
                _VARIANTS.c.deleted_at.is_(None),
            )
            .order_by(_VARIANTS.c.product_id, _VARIANTS.c.variant_id)
        )
        found: dict[int, list[int]] = {}
        for product, variant in rows:
            found.setdefault(product, []).append(variant)
        if known is None or len(known) >= MAX_PRODUCTS_PER_SHOP:
            known, loaded_at = {}, None
        known.update({p: tuple(found.get(p, ())) for p in missing})
        cache.put(shop_id, token, known, loaded_at)
    return {p: known[p] for p in ids if known.get(p)}


def known_locations(shop_id: int) -> frozenset[int]:
    """The locations the shop's stock has been seen at (cached while its "catalog" signal holds)."""

    def load(_previous: frozenset[int] | None) -> frozenset[int]:
        rows = db.session.connection().execute(
            sa.select(ShopLocation.location_id).where(of_shop(ShopLocation, shop_id))
        )
        return frozenset(r[0] for r in rows)

    return shop_cache("locations", "catalog", MAX_CACHED_SHOPS).get_or_load(shop_id, load)


def pins(shop_id: int) -> Mapping[int, tuple[int, ...]]:
    """The merchant's pins: product id -> pinned product ids in order (cached while "pins" holds)."""

    def load(_previous: Mapping[int, tuple[int, ...]] | None) -> Mapping[int, tuple[int, ...]]:
        rows = db.session.connection().execute(
            sa.select(ProductPin.product_id, ProductPin.pinned_product_id)
            .where(of_shop(ProductPin, shop_id))
            .order_by(ProductPin.product_id, ProductPin.position, ProductPin.pinned_product_id)
        )
        out: dict[int, list[int]] = {}
        for product, pinned in rows:
            out.setdefault(product, []).append(pinned)
        return MappingProxyType({p: tuple(v) for p, v in out.items()})

    return shop_cache("pins", "pins", MAX_CACHED_SHOPS).get_or_load(shop_id, load)

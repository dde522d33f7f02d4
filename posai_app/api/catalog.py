"""Catalog rows the API filters on (status, stock, product, titles, price), cached per process.

A shop's rows are cached one variant at a time as requests need them, so memory follows
what POS carts actually touch, not the catalog's size. Any write to the shop's variants
(product webhooks, stock updates, syncs, deletion) raises the "catalog" change signal
(posai_app.cache_signals) and the next request re-reads what it needs in one indexed query.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.models import ProductVariant
from posai_app.tenancy import of_shop

MAX_CACHED_SHOPS = 256
MAX_ROWS_PER_SHOP = 200_000


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


_VARIANTS = ProductVariant.__table__
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
)


def _query(shop_id: int, ids: list[int]) -> dict[int, VariantInfo]:
    """One indexed query (unique (shop_id, variant_id)) for these variants."""
    if db.engine.dialect.name == "postgresql":
        # One array parameter instead of an IN list of up to a few hundred parameters.
        match = _VARIANTS.c.variant_id == sa.any_(sa.bindparam("ids", ids, type_=ARRAY(sa.BigInteger)))
    else:
        match = _VARIANTS.c.variant_id.in_(ids)
    rows = db.session.connection().execute(sa.select(*_COLUMNS).where(of_shop(_VARIANTS, shop_id), match))
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
        )
        for r in rows
    }


def catalog_rows(shop_id: int, variant_ids: Iterable[int]) -> dict[int, VariantInfo]:
    """The shop's rows for these variant ids (ids the shop does not have are simply absent)."""
    ids = {int(v) for v in variant_ids}
    if not ids:
        return {}
    cache = shop_cache("catalog", "catalog", MAX_CACHED_SHOPS)
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

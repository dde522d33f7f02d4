"""Reads of a shop's stored catalog for people: product search, variants by id, titles.

The request path reads its own compact copy (posai_app.api.catalog); these are for the
admin page and the CLI.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import ProductVariant
from posai_app.tenancy import of_shop, select_for_shop

SEARCH_LIMIT = 20


def variant_label(product_title: str | None, variant_title: str | None, variant_id: int) -> str:
    if not product_title:
        return f"Variant {variant_id}"
    if variant_title and variant_title != "Default Title":
        return f"{product_title} – {variant_title}"
    return product_title


def _clean_query(query: str | None) -> str:
    # Printable characters only: PostgreSQL refuses NUL in text parameters.
    printable = "".join(ch if ch.isprintable() else " " for ch in (query or "")[:500])
    return " ".join(printable.split())[:100]


def search_variants(shop_id: int, query: str | None, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Sellable-looking variants whose product title contains the query (case-insensitive)."""
    q = _clean_query(query)
    if not q:
        return []
    rows = db.session.scalars(
        select_for_shop(ProductVariant, shop_id)
        .where(
            ProductVariant.deleted_at.is_(None),
            sa.func.lower(ProductVariant.product_title).contains(q.lower(), autoescape=True),
        )
        .order_by(ProductVariant.product_title, ProductVariant.variant_title, ProductVariant.variant_id)
        .limit(limit)
    ).all()
    return [_variant_dict(v) for v in rows]


def _variant_dict(v: ProductVariant) -> dict[str, Any]:
    return {
        "variant_id": v.variant_id,
        "product_id": v.product_id,
        "label": variant_label(v.product_title, v.variant_title, v.variant_id),
        "product_title": v.product_title,
        "variant_title": v.variant_title,
        "price": v.price,
        "inventory_quantity": v.inventory_quantity,
        "status": v.status,
        "is_gift_card": v.is_gift_card,
    }


def search_products(shop_id: int, query: str | None, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Products (one row per product id) whose title contains the query."""
    q = _clean_query(query)
    if not q:
        return []
    rows = db.session.execute(
        sa.select(
            ProductVariant.product_id,
            sa.func.min(ProductVariant.product_title),
            sa.func.count(),
        )
        .where(
            of_shop(ProductVariant, shop_id),
            ProductVariant.deleted_at.is_(None),
            sa.func.lower(ProductVariant.product_title).contains(q.lower(), autoescape=True),
        )
        .group_by(ProductVariant.product_id)
        .order_by(sa.func.min(ProductVariant.product_title), ProductVariant.product_id)
        .limit(limit)
    ).all()
    return [{"product_id": pid, "title": title, "variants": n} for pid, title, n in rows]


def variants_by_ids(shop_id: int, variant_ids: list[int]) -> list[dict[str, Any]]:
    """The shop's variants among the given ids (others' ids are silently absent), in the given order."""
    if not variant_ids:
        return []
    rows = db.session.scalars(
        select_for_shop(ProductVariant, shop_id).where(ProductVariant.variant_id.in_(variant_ids))
    ).all()
    by_id = {v.variant_id: v for v in rows}
    return [_variant_dict(by_id[i]) for i in variant_ids if i in by_id]


def product_titles(shop_id: int, product_ids: list[int]) -> list[dict[str, Any]]:
    """Titles for excluded product ids (a product since deleted keeps a placeholder title)."""
    if not product_ids:
        return []
    rows = db.session.execute(
        sa.select(ProductVariant.product_id, sa.func.min(ProductVariant.product_title))
        .where(of_shop(ProductVariant, shop_id), ProductVariant.product_id.in_(product_ids))
        .group_by(ProductVariant.product_id)
    ).all()
    titles = dict(rows)
    return [{"product_id": pid, "title": titles.get(pid) or f"Product {pid}"} for pid in product_ids]


def product_exists(shop_id: int, product_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(ProductVariant.variant_id)
            .where(of_shop(ProductVariant, shop_id), ProductVariant.product_id == product_id)
            .limit(1)
        )
        is not None
    )


def existing_products(shop_id: int, product_ids: list[int]) -> set[int]:
    """Which of these product ids the shop's catalog has (live variants)."""
    found: set[int] = set()
    for start in range(0, len(product_ids), 500):
        chunk = product_ids[start : start + 500]
        found.update(
            db.session.scalars(
                sa.select(ProductVariant.product_id)
                .where(
                    of_shop(ProductVariant, shop_id),
                    ProductVariant.product_id.in_(chunk),
                    ProductVariant.deleted_at.is_(None),
                )
                .distinct()
            )
        )
    return found


def product_facets(shop_id: int, limit: int = 200) -> dict[str, list[str]]:
    """The product types, vendors and tags the shop's live products use (for the exclusion pickers)."""
    live = [of_shop(ProductVariant, shop_id), ProductVariant.deleted_at.is_(None)]
    types = db.session.scalars(
        sa.select(ProductVariant.product_type)
        .where(*live, ProductVariant.product_type != "")
        .distinct()
        .limit(limit)
    )
    vendors = db.session.scalars(
        sa.select(ProductVariant.vendor).where(*live, ProductVariant.vendor != "").distinct().limit(limit)
    )
    tags: set[str] = set()
    for value in db.session.scalars(
        sa.select(ProductVariant.tags).where(*live, ProductVariant.tags != "").distinct().limit(limit * 5)
    ):
        tags.update(t.strip() for t in (value or "").split(",") if t.strip())
    return {
        "product_types": sorted({t for t in types if t}, key=str.casefold),
        "vendors": sorted({v for v in vendors if v}, key=str.casefold),
        "tags": sorted(tags, key=str.casefold)[:limit],
    }

"""Load the shipped order history into the demo shop through the ingestion services."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime

import sqlalchemy as sa

from posai_app.db_stats import analyze_for_shop
from posai_app.demo import DEMO_SHOP_DOMAIN
from posai_app.demo.payloads import DATA_PATH, iter_order_payloads, product_payloads, read_rows
from posai_app.extensions import db
from posai_app.ingest.orders import upsert_orders
from posai_app.ingest.parse import order_from_rest, product_from_rest
from posai_app.ingest.products import upsert_products
from posai_app.ingest.upserts import UpsertResult
from posai_app.models import OrderLineItem, OrderVersion, ProductVariant, Shop
from posai_app.shops.lifecycle import delete_shop_data

Progress = Callable[[str, int, int | None], None]

# The demo shop has no Shopify behind it: a placeholder offline token that never expires
# keeps the auth layer from attempting a token exchange with a shop that does not exist.
DEMO_OFFLINE_TOKEN = "demo-offline-token-not-a-shopify-token"  # noqa: S105


def find_demo_shop() -> Shop | None:
    """The demo shop's row, installed or not."""
    return db.session.scalar(sa.select(Shop).where(Shop.domain == DEMO_SHOP_DOMAIN))


def reset_demo_shop() -> None:
    shop = find_demo_shop()
    if shop is not None:
        delete_shop_data(shop.id)
        db.session.commit()


def ensure_demo_shop() -> Shop:
    shop = find_demo_shop()
    if shop is None:
        shop = Shop(domain=DEMO_SHOP_DOMAIN, settings={})
        db.session.add(shop)
    shop.access_token = DEMO_OFFLINE_TOKEN
    shop.access_token_expires_at = None
    shop.scopes = "read_products,read_orders,read_all_orders,read_inventory"
    shop.installed_at = shop.installed_at or datetime.now(UTC)
    shop.uninstalled_at = None
    shop.needs_reauth = False
    db.session.commit()
    return shop


def import_history(
    shop_id: int,
    path: str = DATA_PATH,
    progress: Progress | None = None,
    hold_out: Collection[int] = frozenset(),
) -> dict[str, int]:
    """Products, then orders, as Shopify-shaped payloads through upsert_products / upsert_orders;
    the orders in `hold_out` are left out (the demo replays them as a POS day: posai_app.demo.replay)."""
    products = [product_from_rest(p) for p in product_payloads(read_rows(path))]
    done = [0]

    def products_batch(result: UpsertResult) -> None:
        db.session.commit()
        done[0] += result.products
        if progress:
            progress("products", done[0], len(products))

    product_result = upsert_products(shop_id, products, on_batch=products_batch)
    db.session.commit()

    def history():
        return (o for o in iter_order_payloads(path) if o["id"] not in hold_out)

    order_count = sum(1 for _ in history()) if progress else None
    done[0] = 0

    def orders_batch(result: UpsertResult) -> None:
        db.session.commit()  # a crash mid-import leaves whole batches, resumable by re-running
        done[0] += result.orders
        if progress:
            progress("orders", done[0], order_count)

    order_result = upsert_orders(shop_id, (order_from_rest(o) for o in history()), on_batch=orders_batch)
    db.session.commit()
    analyze_for_shop(shop_id, ProductVariant, OrderLineItem, OrderVersion)
    return {
        "products": product_result.products,
        "variants": product_result.variants,
        "orders": order_result.orders,
        "line_items": order_result.line_items,
    }

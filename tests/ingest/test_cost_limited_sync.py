"""The Online Retail demo shop synced through a fake that prices every query as Shopify does.

The fake refuses any query above 1,000 points (MAX_COST_EXCEEDED), so a catch-up, a Resync
and a nightly reconciliation only pass when every page fits, including orders of 100+
line items (up to 592) and a product of 130 variants, which need their follow-up pages.
"""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import sync as jobs
from posai_app.ingest.sync_state import get_sync_state
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.shopify import cost, queries
from posai_app.shopify.client import ShopifyGraphQLError
from tests.fakeshopify import dataset

LATER = "2031-01-01T00:00:00Z"


def _demo_shop(fake, shop):
    products, orders = dataset.small_history(300)  # four of its orders have 138 to 592 line items
    base = products[0]["variants"][0]
    products[0]["variants"] = [
        dict(base, id=base["id"] + i, inventory_item_id=base["inventory_item_id"] + i, title=f"Size {i}")
        for i in range(130)
    ]
    fake.add_shop(shop.domain, shop.access_token, products=products, orders=orders)
    fake.restore_rate = 5000.0  # a fast bucket: the single-query limit still applies
    return products, orders


def _touch(fake, shop, products, orders):
    for order in orders:
        fake.set_order(shop.domain, dict(order, updated_at=LATER))
    fake.set_product(shop.domain, dict(products[0], updated_at=LATER))


def _line_counts(shop_id):
    rows = db.session.execute(
        sa.select(OrderLineItem.order_id, sa.func.count())
        .where(OrderLineItem.shop_id == shop_id)
        .group_by(OrderLineItem.order_id)
    )
    return dict(rows.all())


def _variant_count(shop_id, product_id):
    query = sa.select(sa.func.count()).where(
        ProductVariant.shop_id == shop_id,
        ProductVariant.product_id == product_id,
        ProductVariant.deleted_at.is_(None),
    )
    return db.session.scalar(query)


def test_catch_up_resync_and_reconcile_fit_the_cost_limit(app, fake, shop):
    products, orders = _demo_shop(fake, shop)
    expected = {o["id"]: len(o["line_items"]) for o in orders}
    assert sorted(expected.values())[-4:] == [138, 526, 591, 592]
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)  # first sync: bulk
        assert _line_counts(shop.id) == expected

        _touch(fake, shop, products, orders)
        fake.requests.clear()
        jobs.sync_shop(shop.id, train=False)  # the admin's Resync: every order re-read by pages
        assert _line_counts(shop.id) == expected
        assert _variant_count(shop.id, products[0]["id"]) == 130
        resync = [r["operation"] for r in fake.requests]
        assert (
            resync.count("OrderLineItemsPage") >= 12 and "ProductVariantsPage" in resync
        )  # 592 = 18 + 3 × 190 + 4

        biggest = copy.deepcopy(max(orders, key=lambda o: len(o["line_items"])))
        biggest["line_items"] = biggest["line_items"][:400]
        biggest["updated_at"] = "2031-01-02T00:00:00Z"
        fake.set_order(shop.domain, biggest)
        state = get_sync_state(shop.id, "orders")
        state.last_synced_at = sa.func.now()
        db.session.commit()
        jobs.reconcile_shop(shop.id)  # the nightly repair: catch-up of what changed since (with overlap)
        assert _line_counts(shop.id)[biggest["id"]] == 400

    assert fake.refused == 0 and fake.throttled == 0
    assert max(r["cost"] for r in fake.requests) <= cost.MAX_SINGLE_QUERY_COST
    sent = {r["query"] for r in fake.requests}
    assert sent <= {d.text for d in queries.registry()}  # nothing outside the contract-tested registry


def test_a_page_over_the_limit_fails_the_sync_as_shopify_would(app, fake, shop, monkeypatch):
    products, orders = _demo_shop(fake, shop)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)
        _touch(fake, shop, products, orders)
        monkeypatch.setattr(queries, "ORDERS_PER_PAGE", 100)  # yesterday's page: 100 × 100 line items
        monkeypatch.setattr(queries, "LINE_ITEMS_PER_ORDER", 100)
        with pytest.raises(ShopifyGraphQLError) as info:
            jobs.sync_orders(shop.id)
        assert info.value.codes == {"MAX_COST_EXCEEDED"}
        assert info.value.errors[0]["extensions"]["cost"] == 2 + 100 * (3 + 2 + 100 * 9)
        state = get_sync_state(shop.id, "orders")
        assert state.status == "failed" and "max cost limit (1000)" in state.last_error
    assert fake.refused == 1

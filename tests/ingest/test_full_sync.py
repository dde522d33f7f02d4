"""The whole Online Retail history (19,773 orders, 517,767 line items) synced through the fake."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import sync as jobs
from posai_app.ingest.summary import count_rows
from posai_app.models import OrderLineItem, SyncState
from tests.fakeshopify import dataset
from tests.helpers import WorkerKilled, fail_after_batches

pytestmark = pytest.mark.slow


def _full_shop(fake, shop):
    fake.add_shop(shop.domain, shop.access_token, products=dataset.products(), base_orders=dataset.orders)


def _fingerprint(shop_id):
    return db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.count(sa.distinct(OrderLineItem.order_id)),
            sa.func.sum(OrderLineItem.quantity),
            sa.func.sum(OrderLineItem.line_item_id % 1000003),
            sa.func.sum(OrderLineItem.variant_id % 1000003),
            sa.func.sum(OrderLineItem.price * OrderLineItem.quantity),
        ).where(OrderLineItem.shop_id == shop_id)
    ).one()


def test_full_history_syncs_with_exact_counts(app, fake, shop, requires_postgres):
    _full_shop(fake, shop)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)
        counts = count_rows(shop.id)
        state = db.session.scalar(sa.select(SyncState).where(SyncState.resource == "orders"))
        total, orders, quantity, *_ = _fingerprint(shop.id)
        assert counts == {
            "orders": dataset.ORDERS,
            "line_items": dataset.LINE_ITEMS,
            "variants": dataset.VARIANTS,
        }
        assert quantity == 5_577_133
        assert state.status == "done"
        assert state.processed_count == state.total_count == dataset.ORDERS + dataset.LINE_ITEMS
        assert state.oldest_record_at.isoformat().startswith("2010-12-01")


def _expected_fingerprint():
    """The fingerprint an uninterrupted sync produces, computed straight from the CSV."""
    from decimal import Decimal

    from posai_app.demo import payloads as shopify_shape

    lines = orders = quantity = line_ids = variant_ids = 0
    value = Decimal(0)
    for order in shopify_shape.iter_order_payloads():
        orders += 1
        for item in order["line_items"]:
            lines += 1
            quantity += item["quantity"]
            line_ids += item["id"] % 1000003
            variant_ids += item["variant_id"] % 1000003
            value += Decimal(item["price"]) * item["quantity"]
    return (lines, orders, quantity, line_ids, variant_ids, value)


def test_sync_killed_mid_download_resumes_to_identical_rows(app, fake, shop, requires_postgres, monkeypatch):
    _full_shop(fake, shop)
    with app.app_context():
        with pytest.raises(WorkerKilled):
            jobs.sync_shop(shop.id, train=False, on_progress=fail_after_batches(10, WorkerKilled))
        db.session.rollback()
        db.session.remove()
    with app.app_context():
        partial = count_rows(shop.id)
        state = db.session.scalar(sa.select(SyncState).where(SyncState.resource == "orders"))
        assert 0 < partial["line_items"] < dataset.LINE_ITEMS
        assert state.bulk_operation_id and state.cursor
        downloads_before = fake.downloads
        jobs.sync_shop(shop.id, train=False)  # the rerun picks up the same bulk operation
        assert fake.downloads == downloads_before + 1
        resumed = tuple(_fingerprint(shop.id))
        jobs.sync_shop(shop.id, train=False)  # and a further run (catch-up) changes nothing
        again = tuple(_fingerprint(shop.id))
    assert resumed == again == _expected_fingerprint()

"""Sync a small slice of the Online Retail history through the fake: bulk first, catch-up after."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import sync as jobs
from posai_app.ingest.summary import count_rows
from posai_app.ingest.sync_state import get_sync_state
from posai_app.models import OrderLineItem, ProductVariant, SyncState
from tests.fakeshopify import dataset


def _setup(fake, shop, orders=40):
    products, history = dataset.small_history(orders)
    fake.add_shop(shop.domain, shop.access_token, products=products, orders=history)
    return products, history


def test_initial_sync_stores_every_order_line_and_variant(app, fake, shop):
    products, history = _setup(fake, shop)
    with app.app_context():
        result = jobs.sync_shop(shop.id, train=False)
        counts = count_rows(shop.id)
        states = {s.resource: s for s in db.session.scalars(sa.select(SyncState))}
    assert counts == {
        "orders": len(history),
        "line_items": sum(len(o["line_items"]) for o in history),
        "variants": len(products),
    }
    assert result["orders"]["line_items"] == counts["line_items"]
    assert states["orders"].status == "done" and states["orders"].all_history is True
    assert states["orders"].oldest_record_at is not None
    assert states["orders"].last_synced_at is not None


def test_catch_up_reads_only_changes_and_applies_them(app, fake, shop):
    products, history = _setup(fake, shop)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)
    changed = copy.deepcopy(history[0])
    changed["updated_at"] = "2031-01-01T00:00:00Z"
    changed["line_items"] = changed["line_items"][:1]
    changed["line_items"][0]["quantity"] = 99
    fake.set_order(shop.domain, changed)
    with app.app_context():
        state = get_sync_state(shop.id, "orders")
        state.last_synced_at = sa.func.now()
        db.session.commit()
        result = jobs.sync_orders(shop.id)
        rows = db.session.scalars(
            sa.select(OrderLineItem).where(OrderLineItem.order_id == changed["id"])
        ).all()
    assert result["orders"] == 1
    assert [(r.quantity, r.line_item_id) for r in rows] == [(99, changed["line_items"][0]["id"])]


def test_sync_of_uninstalled_shop_does_nothing(app, fake, shop):
    _setup(fake, shop)
    with app.app_context():
        from posai_app.models import Shop

        db.session.get(Shop, shop.id).uninstalled_at = sa.func.now()
        db.session.commit()
        assert jobs.sync_shop(shop.id)["orders"] == {"skipped": "not installed"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ProductVariant)) == 0


def test_catch_up_follows_nested_pages_of_big_orders_and_products(app, fake, shop):
    products, history = _setup(fake, shop, orders=3)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)
        state = get_sync_state(shop.id, "orders")
        since = state.last_synced_at
    big_order = copy.deepcopy(history[0])
    template = big_order["line_items"][0]
    big_order["line_items"] = [dict(template, id=template["id"] + i, quantity=i + 1) for i in range(260)]
    big_order["updated_at"] = "2031-01-01T00:00:00Z"
    fake.set_order(shop.domain, big_order)
    big_product = copy.deepcopy(products[0])
    base = big_product["variants"][0]
    big_product["variants"] = [
        dict(base, id=base["id"] + i, inventory_item_id=base["inventory_item_id"] + i, title=f"Size {i}")
        for i in range(130)
    ]
    big_product["updated_at"] = "2031-01-01T00:00:00Z"
    fake.set_product(shop.domain, big_product)
    with app.app_context():
        state = get_sync_state(shop.id, "orders")
        assert state.last_synced_at == since
        jobs.sync_shop(shop.id, train=False)
        lines = db.session.scalar(
            sa.select(sa.func.count())
            .where(OrderLineItem.order_id == big_order["id"])
            .select_from(OrderLineItem)
        )
        variants = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ProductVariant)
            .where(ProductVariant.product_id == big_product["id"], ProductVariant.deleted_at.is_(None))
        )
    assert (lines, variants) == (260, 130)


def _bulk_runs(fake) -> list[str]:
    return [r["operation"] for r in fake.requests if r.get("operation") == "BulkOperationRunQuery"]


def _sync_noting_the_orders_operation(shop) -> str | None:
    """Sync the shop; returns the orders' bulk operation id as it was when products began downloading."""
    seen: dict[str, str | None] = {}

    def on_progress(state) -> None:
        if state.resource == "products" and state.phase == "downloading":
            seen.setdefault("orders", get_sync_state(shop.id, "orders").bulk_operation_id)

    jobs.sync_shop(shop.id, train=False, on_progress=on_progress)
    return seen["orders"]


def test_the_orders_bulk_query_runs_while_the_products_file_is_read(app, fake, shop):
    """Admin API 2026-01+ runs up to five bulk queries per shop at once: the sync starts the orders
    query before it reads the products file, and stores the same rows."""
    products, history = _setup(fake, shop)
    fake.bulk_concurrency = 5
    fake.requests.clear()
    with app.app_context():
        orders_operation = _sync_noting_the_orders_operation(shop)
        counts = count_rows(shop.id)
    assert orders_operation is not None
    assert len(_bulk_runs(fake)) == 2
    assert counts["line_items"] == sum(len(o["line_items"]) for o in history)
    assert counts["variants"] == len(products)


def test_where_one_bulk_query_runs_at_a_time_the_orders_query_waits_its_turn(app, fake, shop):
    """Refused ahead (one bulk query at a time, as before 2026-01), the orders query is started
    after the products file is read, with no wait before it."""
    _, history = _setup(fake, shop)
    fake.requests.clear()
    with app.app_context():
        orders_operation = _sync_noting_the_orders_operation(shop)
        counts = count_rows(shop.id)
        orders_state = get_sync_state(shop.id, "orders")
    assert orders_operation is None
    assert len(_bulk_runs(fake)) == 3  # products, orders refused ahead, orders in its turn
    assert counts["line_items"] == sum(len(o["line_items"]) for o in history)
    assert orders_state.status == "done"


def test_a_failed_products_read_leaves_the_orders_query_started_ahead_idle(app, fake, shop, monkeypatch):
    """The orders query was started ahead; the products read then fails. Orders stays as a
    resource not yet reached (IDLE, its operation kept): no "interrupted" sync is queued again
    and again for it, and the next sync reuses its operation (found by review)."""
    _, history = _setup(fake, shop)
    fake.bulk_concurrency = 5
    real = jobs._import_bulk_file

    def products_fail(client, shop_id, state, resource, *args, **kwargs):
        if resource == "products":
            raise RuntimeError("products file unreadable")
        return real(client, shop_id, state, resource, *args, **kwargs)

    monkeypatch.setattr(jobs, "_import_bulk_file", products_fail)
    with app.app_context():
        with pytest.raises(RuntimeError):
            jobs.sync_shop(shop.id, train=False)
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)  # every heartbeat long silent
        db.session.execute(sa.update(SyncState).values(updated_at=an_hour_ago))
        db.session.commit()
        orders_state = get_sync_state(shop.id, "orders")
        operation = orders_state.bulk_operation_id
        assert orders_state.status == "idle" and operation is not None
        assert get_sync_state(shop.id, "products").status == "failed"
        assert jobs.resume_interrupted_sync(shop.id) is False

        monkeypatch.setattr(jobs, "_import_bulk_file", real)
        fake.requests.clear()
        jobs.sync_shop(shop.id, train=False)
        assert get_sync_state(shop.id, "orders").status == "done"
        assert count_rows(shop.id)["line_items"] == sum(len(o["line_items"]) for o in history)
    assert _bulk_runs(fake) == []  # each resource read the operation it had started


def test_a_sync_of_a_deleted_shop_is_skipped_before_anything_is_started(app, fake, shop):
    from posai_app.shops import lifecycle

    _setup(fake, shop)
    fake.bulk_concurrency = 5
    with app.app_context():
        lifecycle.uninstall_shop(shop.id)
        db.session.commit()
        fake.requests.clear()
        result = jobs.sync_shop(shop.id, train=False)
    assert result == {"products": {"skipped": "not installed"}, "orders": {"skipped": "not installed"}}
    assert _bulk_runs(fake) == []

"""Jobs around the sync: queues, training hand-off, failures, schedule, CLI, upsert guards."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from posai_app.demo import payloads as shopify_shape
from posai_app.extensions import db
from posai_app.ingest import parse, upserts
from posai_app.ingest import sync as jobs
from posai_app.ingest.orders import upsert_orders
from posai_app.ingest.products import upsert_products
from posai_app.ingest.summary import count_rows
from posai_app.ingest.sync_state import get_sync_state, sync_summary
from posai_app.models import OrderLineItem, ProductVariant, SyncState
from posai_app.shopify.client import ShopifyTransientError
from posai_app.webhooks import handlers
from tests.fakeshopify import dataset


def _setup(fake, shop, orders=20):
    products, history = dataset.small_history(orders)
    fake.add_shop(shop.domain, shop.access_token, products=products, orders=history)
    return products, history


def test_sync_shop_queues_one_training_job(app, fake, shop, requires_redis):
    _setup(fake, shop)
    from rq import Queue

    from posai_app.queue import get_redis

    with app.app_context():
        jobs.sync_shop(shop.id)
        jobs.sync_shop(shop.id)  # a second sync folds into the queued training
        queued = Queue("train", connection=get_redis()).jobs
    assert [(j.func_name, j.args) for j in queued] == [
        ("posai_app.training.jobs.train_shop", (shop.id, "after_sync"))
    ]


def test_transient_failure_is_recorded_and_a_rerun_completes(app, fake, shop, monkeypatch):
    _setup(fake, shop)
    monkeypatch.setitem(app.config, "SHOPIFY_CLIENT_MAX_ATTEMPTS", 2)
    fake.fail_next(2, status=503)
    with app.app_context():
        with pytest.raises(ShopifyTransientError):
            jobs.sync_products(shop.id)
        state = get_sync_state(shop.id, "products")
        assert state.status == "failed" and "503" in state.last_error
        jobs.sync_shop(shop.id, train=False)
        assert count_rows(shop.id)["variants"] > 0
        assert {s.status for s in db.session.scalars(sa.select(SyncState))} == {"done"}


def test_interrupted_download_resumes_from_the_committed_line(app, fake, shop, monkeypatch):
    _, history = _setup(fake, shop, orders=200)
    monkeypatch.setattr(upserts, "DEFAULT_BATCH_ROWS", 200)
    monkeypatch.setattr(upserts, "BULK_BATCH_ROWS", 200)
    with app.app_context():
        jobs.sync_products(shop.id)
        fake.drop_download_after(3000)
        with pytest.raises(ShopifyTransientError):
            jobs.sync_orders(shop.id)
        state = get_sync_state(shop.id, "orders")
        resume_from = jobs.load_cursor(state)["line"]
        assert 0 < resume_from <= 3000
        jobs.sync_orders(shop.id)
        assert count_rows(shop.id)["line_items"] == sum(len(o["line_items"]) for o in history)


def test_without_read_all_orders_history_is_marked_partial(app, fake, shop):
    _setup(fake, shop, orders=5)
    with app.app_context():
        from posai_app.models import Shop

        db.session.get(Shop, shop.id).scopes = "read_products,read_orders"
        db.session.commit()
        jobs.sync_shop(shop.id, train=False)
        summary = sync_summary(shop.id)
    assert summary["orders"]["all_history"] is False
    assert summary["orders"]["oldest_record_at"].startswith("2010-12-01")


def test_bulk_finish_webhook_requeues_an_unfinished_sync(app, fake, shop, monkeypatch):
    calls = []
    monkeypatch.setattr(jobs, "enqueue", lambda *a, **k: calls.append((a, k)))
    with app.app_context():
        state = get_sync_state(shop.id, "orders")
        state.bulk_operation_id, state.status = "gid://shopify/BulkOperation/1", "running"
        db.session.commit()
        handlers.handle_bulk_operation_finish(
            shop.id, {"admin_graphql_api_id": "gid://shopify/BulkOperation/2"}
        )
        assert calls == []
        handlers.handle_bulk_operation_finish(
            shop.id, {"admin_graphql_api_id": "gid://shopify/BulkOperation/1"}
        )
    assert calls[0][0][:3] == ("ingest", "posai_app.ingest.sync.sync_shop", shop.id)


def test_upserts_converge_whatever_the_order(app, shop):
    order = parse.order_from_rest(next(shopify_shape.iter_order_payloads()))
    newer = copy.deepcopy(order)
    newer["updated_at"] = datetime(2020, 1, 1, tzinfo=UTC)
    newer["line_items"] = newer["line_items"][:2]
    newer["line_items"][0]["quantity"] = 1234
    with app.app_context():
        upsert_orders(shop.id, [newer])
        result = upsert_orders(shop.id, [order])  # older: ignored entirely
        db.session.commit()
        rows = db.session.scalars(sa.select(OrderLineItem).order_by(OrderLineItem.line_item_id)).all()
    assert result.stale_skipped == 1
    assert len(rows) == 2 and rows[0].quantity == 1234


def test_product_payload_without_gift_flag_keeps_the_stored_one(app, shop):
    payload = shopify_shape.product_payload("gift_0001_10", "Gift voucher", "10.00", "2011-01-01T00:00:00Z")
    with app.app_context():
        upsert_products(shop.id, [parse.product_from_rest(payload)])
        rest = {k: v for k, v in payload.items() if k != "is_gift_card"}
        rest["updated_at"] = "2011-02-01T00:00:00Z"
        rest["variants"] = [dict(payload["variants"][0], price="12.50")]
        upsert_products(shop.id, [parse.product_from_rest(rest)])
        db.session.commit()
        variant = db.session.scalar(sa.select(ProductVariant))
    assert variant.is_gift_card is True and str(variant.price) == "12.50"


def test_stock_codes_map_to_distinct_stable_ids():
    codes = {row.variant_code for row in shopify_shape.read_rows()}
    ids = {shopify_shape.variant_id_for(c) for c in codes}
    assert len(ids) == len(codes) == dataset.VARIANTS
    assert shopify_shape.variant_id_for("85123A") == shopify_shape.variant_id_for("85123A") < 2**53


def test_register_periodic_jobs_schedules_the_night_once(app, requires_redis):
    from rq import Queue
    from rq.registry import ScheduledJobRegistry

    from posai_app import schedule
    from posai_app.queue import get_redis

    with app.app_context():
        now = datetime(2026, 11, 28, 5, 0, tzinfo=UTC)
        first = schedule.register_periodic_jobs(now)
        second = schedule.register_periodic_jobs(now)
        registry = ScheduledJobRegistry(queue=Queue(schedule.NIGHTLY_QUEUE, connection=get_redis()))
        assert first == second == "nightly-2026-11-29"
        assert registry.get_job_ids() == ["nightly-2026-11-29"]


def test_run_nightly_reconciles_installed_shops(app, fake, shop, other_shop, monkeypatch):
    from posai_app import schedule

    calls = []
    monkeypatch.setattr(schedule, "enqueue", lambda *a, **k: calls.append(a[2]))
    monkeypatch.setattr(schedule, "register_periodic_jobs", lambda *a: None)
    with app.app_context():
        assert schedule.run_nightly() == 2
    assert sorted(calls) == sorted([shop.id, other_shop.id])


def test_posai_sync_prints_progress_and_counts(app, fake, shop):
    _setup(fake, shop, orders=10)
    from posai_app.ingest.cli import sync

    result = app.test_cli_runner().invoke(sync, ["--shop", shop.domain, "--no-train"])
    assert result.exit_code == 0, result.output
    assert "10 orders" in result.output
    assert "orders" in result.output and "all history: True" in result.output


def test_posai_sync_unknown_shop_is_a_clear_error(app):
    from posai_app.ingest.cli import sync

    result = app.test_cli_runner().invoke(sync, ["--shop", "nope.myshopify.com"])
    assert result.exit_code != 0 and "no shop" in result.output


def test_sync_hands_over_before_the_job_timeout_and_continuations_finish(
    app, fake, shop, run_jobs, monkeypatch
):
    _, history = _setup(fake, shop, orders=30)
    monkeypatch.setattr(upserts, "DEFAULT_BATCH_ROWS", 100)
    monkeypatch.setattr(upserts, "BULK_BATCH_ROWS", 100)
    trained = []
    monkeypatch.setattr(jobs, "enqueue_training", lambda *args: trained.append(args))
    from posai_app.queue import enqueue

    with app.app_context():
        # A zero budget: every committed batch spends it, and a continuation takes over.
        enqueue("ingest", jobs.SYNC_JOB, shop.id, job_id=f"sync-{shop.id}", coalesce=True, budget_seconds=0.0)
    run_jobs()
    with app.app_context():
        assert count_rows(shop.id)["line_items"] == sum(len(o["line_items"]) for o in history)
        assert {s.status for s in db.session.scalars(sa.select(SyncState))} == {"done"}
    assert trained == [(shop.id, "after_sync")]  # training once, at the very end


def test_line_items_edited_out_of_an_order_are_removed(app, shop):
    payload = next(shopify_shape.iter_order_payloads())
    with app.app_context():
        upsert_orders(shop.id, [parse.order_from_rest(payload)])
        edited = copy.deepcopy(payload)
        edited["updated_at"] = "2012-01-01T00:00:00Z"
        edited["line_items"][0]["current_quantity"] = 0  # removed by an order edit
        edited["line_items"][1]["current_quantity"] = 1  # partly removed
        upsert_orders(shop.id, [parse.order_from_rest(edited)])
        db.session.commit()
        rows = {r.line_item_id: r.quantity for r in db.session.scalars(sa.select(OrderLineItem))}
    assert payload["line_items"][0]["id"] not in rows
    assert rows[payload["line_items"][1]["id"]] == 1
    assert len(rows) == len(payload["line_items"]) - 1


def test_old_webhook_delivery_records_are_pruned(app, shop):
    from datetime import timedelta

    from posai_app import schedule
    from posai_app.models import WebhookDelivery

    now = datetime.now(UTC)
    with app.app_context():
        for webhook_id, age in (("old", 30), ("recent", 1)):
            db.session.add(
                WebhookDelivery(
                    shop_id=shop.id,
                    webhook_id=webhook_id,
                    topic="orders/create",
                    received_at=now - timedelta(days=age),
                )
            )
        db.session.commit()
        assert schedule.prune_webhook_deliveries(now) == 1
        assert db.session.scalars(sa.select(WebhookDelivery.webhook_id)).all() == ["recent"]


def test_concurrent_old_and_new_payloads_converge(app, shop, requires_postgres):
    """Two workers applying an older and a newer version of one order at the same moment."""
    import threading

    base = parse.order_from_rest(next(shopify_shape.iter_order_payloads()))
    for round_number in range(15):
        old = copy.deepcopy(base)
        old["order_id"] = base["order_id"] + round_number
        for i, item in enumerate(old["line_items"]):
            item["line_item_id"] = item["line_item_id"] + 100_000 * round_number + i
        old["updated_at"] = datetime(2012, 1, 1, tzinfo=UTC)
        new = copy.deepcopy(old)
        new["updated_at"] = datetime(2012, 2, 1, tzinfo=UTC)
        new["line_items"] = new["line_items"][1:]
        barrier = threading.Barrier(2)

        def apply(order):
            with app.app_context():
                barrier.wait()
                upsert_orders(shop.id, [order])
                db.session.commit()
                db.session.remove()

        threads = [threading.Thread(target=apply, args=(o,)) for o in (old, new)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with app.app_context():
            stored = set(
                db.session.scalars(
                    sa.select(OrderLineItem.line_item_id).where(OrderLineItem.order_id == old["order_id"])
                )
            )
        assert stored == {item["line_item_id"] for item in new["line_items"]}, round_number


def test_expired_bulk_file_starts_a_fresh_operation(app, fake, shop):
    from tests.fakeshopify.server import BulkOp

    _, history = _setup(fake, shop, orders=5)
    old_id = "gid://shopify/BulkOperation/1"
    fake.shops[shop.domain].bulk_ops.append(
        BulkOp(
            id=old_id,
            kind="orders",
            search=None,
            created_at="2026-01-01T00:00:00Z",
            polls_left=0,
            status="COMPLETED",
            object_count=10,
            file_expired=True,
        )
    )
    with app.app_context():
        jobs.sync_products(shop.id)
        state = get_sync_state(shop.id, "orders")
        state.bulk_operation_id, state.cursor = old_id, '{"mode": "bulk", "line": 3}'  # a sync resumed late
        db.session.commit()
        jobs.sync_orders(shop.id)
        assert count_rows(shop.id)["orders"] == len(history)
        assert get_sync_state(shop.id, "orders").bulk_operation_id != old_id

"""The nightly reconcile taking over an initial bulk sync killed mid-import stores exactly the rows
of an uninterrupted import, leaves the sync done, and its next run (a catch-up) changes nothing."""

from __future__ import annotations

import pytest

from posai_app import schedule
from posai_app.extensions import db
from posai_app.ingest import sync as jobs
from posai_app.ingest import upserts
from posai_app.ingest.summary import count_rows
from posai_app.ingest.sync_state import get_sync_state
from posai_app.models import SyncStatus
from tests.fakeshopify import dataset
from tests.helpers import WorkerKilled, fail_after_batches, resume_point, synced_snapshot


@pytest.mark.parametrize(
    ("killed_in", "ungrouped"),
    [("orders", True), ("orders", False), ("products", True)],
    ids=["orders-ungrouped", "orders-grouped", "products-ungrouped"],
)
def test_the_nightly_reconcile_finishes_a_killed_initial_sync_with_the_rows_of_a_clean_one(
    app, fake, shop, other_shop, monkeypatch, killed_in, ungrouped
):
    """A worker killed right after a committed batch of the first bulk import (orders, or the
    products before them) leaves a RUNNING sync that never finished; the nightly job
    (`reconcile_and_retrain`) takes it over from that batch, and ends with exactly the
    order_line_items and product_variants of the same shop imported without interruption.
    The sync is then done (last_synced_at set), so the next reconcile is a catch-up that
    starts no bulk operation and changes no row."""
    products, orders = dataset.small_history(150)
    fake.ungrouped = ungrouped
    monkeypatch.setattr(upserts, "DEFAULT_BATCH_ROWS", 200)
    monkeypatch.setattr(upserts, "BULK_BATCH_ROWS", 200)
    trained, retrains = [], []
    monkeypatch.setattr(jobs, "enqueue_training", lambda *args: trained.append(args))
    monkeypatch.setattr(jobs, "request_retrain", lambda *args: retrains.append(args))
    for each in (shop, other_shop):
        fake.add_shop(each.domain, each.access_token, products=products, orders=orders)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)  # the clean, uninterrupted import
        clean = synced_snapshot(shop.id)
        assert len(clean[0]) == sum(len(o["line_items"]) for o in orders)
        assert len(clean[1]) == count_rows(shop.id)["variants"] > 0

        with pytest.raises(WorkerKilled):
            jobs.sync_shop(
                other_shop.id, train=False, on_progress=fail_after_batches(2, WorkerKilled, killed_in)
            )
        db.session.rollback()
        db.session.remove()
    with app.app_context():
        state = get_sync_state(other_shop.id, killed_in)
        done = resume_point(jobs.load_cursor(state))
        assert state.status == SyncStatus.RUNNING and state.last_synced_at is None
        assert 0 < done < state.total_count  # parents or lines: fewer than the file's objects
        partial = count_rows(other_shop.id)
        if killed_in == "orders":
            assert 0 < partial["line_items"] < len(clean[0])
        else:
            assert 0 < partial["variants"] < len(clean[1]) and partial["line_items"] == 0
        db.session.remove()

    with app.app_context():
        schedule.reconcile_and_retrain(other_shop.id)  # the nightly job takes the killed sync over
        assert synced_snapshot(other_shop.id) == clean
        for resource in jobs.RESOURCES:
            state = get_sync_state(other_shop.id, resource)
            assert (state.status, state.phase, state.cursor) == (SyncStatus.DONE, "done", None)
            assert state.last_synced_at is not None
        killed = get_sync_state(other_shop.id, killed_in)
        assert killed.processed_count == killed.total_count > 0  # the whole file, counted once
        assert trained == [(other_shop.id, "nightly")] and retrains == [(other_shop.id,)]

        bulk_operations = len(fake.shops[other_shop.domain].bulk_ops)
        assert bulk_operations == len(jobs.RESOURCES)  # the killed one's file was read again, not rerun
        downloads = fake.downloads
        again = jobs.reconcile_shop(other_shop.id)  # the next night: a catch-up
        assert (again["orders"]["new_orders"], again["orders"]["line_items"]) == (0, 0)
        assert len(fake.shops[other_shop.domain].bulk_ops) == bulk_operations
        assert fake.downloads == downloads
        assert synced_snapshot(other_shop.id) == clean
        assert retrains == [(other_shop.id,)]

"""A bulk import through ungrouped JSONL (`groupObjects: false`) stores exactly the rows of a grouped one."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from posai_app.budget import OutOfTime
from posai_app.extensions import db
from posai_app.ingest import sync as jobs
from posai_app.ingest import upserts
from posai_app.ingest.summary import count_rows
from posai_app.models import SyncState
from posai_app.shopify.client import ShopifyTransientError
from tests import conftest
from tests.fakeshopify import bulkfile, dataset
from tests.fakeshopify.server import order_node
from tests.helpers import WorkerKilled, fail_after_batches, resume_point, synced_snapshot


@pytest.fixture
def history():
    return dataset.small_history(300)


def _add(fake, shop, history) -> None:
    products, orders = history
    fake.add_shop(shop.domain, shop.access_token, products=products, orders=orders)


def _grouped_rows(app, fake, shop, history):
    fake.grouped = True  # as `groupObjects: true` writes the file
    _add(fake, shop, history)
    with app.app_context():
        jobs.sync_shop(shop.id, train=False)
        return synced_snapshot(shop.id)


def test_ungroup_moves_children_anywhere_after_their_parent(history):
    _, orders = history
    grouped = _grouped_lines(orders[:50])
    reordered = list(_ungroup(grouped))
    assert sorted(reordered) == sorted(grouped) and reordered != grouped
    assert reordered == list(_ungroup(grouped))  # seeded: a re-download sees the same file
    seen: set[str] = set()
    parent_at: dict[str, int] = {}
    late = 0
    for number, line in enumerate(reordered):
        obj = json.loads(line)
        if "__parentId" in obj:
            assert obj["__parentId"] in seen
            late += number - parent_at[obj["__parentId"]] > 10
        else:
            seen.add(obj["id"])
            parent_at[obj["id"]] = number
    assert late > 20


def _ungroup(lines: list[str]) -> list[str]:
    """The fake's ungrouped form of a grouped file (its parent lines have no __parentId)."""
    groups: list[tuple[str, list[str]]] = []
    for line in lines:
        if "__parentId" in json.loads(line):
            groups[-1][1].append(line)
        else:
            groups.append((line, []))
    return list(bulkfile.ungrouped(groups, seed="test"))


def _grouped_lines(orders: list[dict]) -> list[str]:
    """Order lines each followed by four child lines, as `groupObjects: true` writes them."""
    lines = []
    for order in orders:
        node = order_node(order)
        lines.append(json.dumps(node))
        lines += [json.dumps({"id": f"{node['id']}-L{i}", "__parentId": node["id"]}) for i in range(4)]
    return lines


def test_ungrouped_import_stores_the_rows_of_a_grouped_one(app, fake, shop, other_shop, history, monkeypatch):
    grouped = _grouped_rows(app, fake, shop, history)
    assert len(grouped[0]) == sum(len(o["line_items"]) for o in history[1])
    monkeypatch.setattr(fake, "grouped", False)
    _add(fake, other_shop, history)
    with app.app_context():
        jobs.sync_shop(other_shop.id, train=False)
        assert synced_snapshot(other_shop.id) == grouped


def test_ungrouped_import_killed_mid_way_resumes_to_the_same_rows(
    app, fake, shop, other_shop, history, monkeypatch
):
    grouped = _grouped_rows(app, fake, shop, history)
    monkeypatch.setattr(fake, "grouped", False)
    monkeypatch.setattr(upserts, "DEFAULT_BATCH_ROWS", 300)
    monkeypatch.setattr(upserts, "BULK_BATCH_ROWS", 300)
    _add(fake, other_shop, history)
    with app.app_context():
        with pytest.raises(WorkerKilled):
            jobs.sync_shop(other_shop.id, train=False, on_progress=fail_after_batches(3, WorkerKilled))
        db.session.rollback()
        state = db.session.scalar(
            sa.select(SyncState).where(SyncState.shop_id == other_shop.id, SyncState.resource == "orders")
        )
        assert 0 < resume_point(jobs.load_cursor(state)) < state.total_count
        assert 0 < count_rows(other_shop.id)["line_items"] < len(grouped[0])
        jobs.sync_shop(other_shop.id, train=False)
        assert synced_snapshot(other_shop.id) == grouped


def test_a_continuation_reads_the_spooled_file_without_downloading_again(
    app, fake, shop, other_shop, history, monkeypatch, tmp_path
):
    """On SQLite the orders file is spooled, and a continuation reads the spool; on PostgreSQL
    it is written as it streams in (ingest.bulk_orders), so the continuation downloads it again
    and parses it from the first line not yet written."""
    grouped = _grouped_rows(app, fake, shop, history)
    monkeypatch.setattr(fake, "grouped", False)
    monkeypatch.setattr(upserts, "DEFAULT_BATCH_ROWS", 300)
    monkeypatch.setattr(upserts, "BULK_BATCH_ROWS", 300)
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_SPOOL_DIR", str(tmp_path))
    _add(fake, other_shop, history)
    with app.app_context():
        with pytest.raises(OutOfTime):
            jobs.sync_shop(other_shop.id, train=False, on_progress=fail_after_batches(2, OutOfTime))
        db.session.rollback()
        downloads = fake.downloads
        spooled = [p.name for p in tmp_path.iterdir() if "-orders-" in p.name]
        streamed = conftest.is_postgres()
        assert bool(spooled) is not streamed  # a spool is kept for the continuation
        jobs.sync_shop(other_shop.id, train=False)
        assert fake.downloads == downloads + streamed
        assert synced_snapshot(other_shop.id) == grouped
    assert list(tmp_path.iterdir()) == []  # removed once imported


def test_a_dropped_ungrouped_download_reruns_to_the_same_rows(
    app, fake, shop, other_shop, history, monkeypatch, tmp_path
):
    grouped = _grouped_rows(app, fake, shop, history)
    monkeypatch.setattr(fake, "grouped", False)
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_SPOOL_DIR", str(tmp_path))
    _add(fake, other_shop, history)
    with app.app_context():
        jobs.sync_products(other_shop.id)
        fake.drop_download_after(2000)
        with pytest.raises(ShopifyTransientError):
            jobs.sync_orders(other_shop.id)
        assert count_rows(other_shop.id)["line_items"] == 0  # no parent is complete before the end
        assert list(tmp_path.iterdir()) == []  # the partial spool is gone
        jobs.sync_orders(other_shop.id)
        assert synced_snapshot(other_shop.id) == grouped

"""The streamed bulk import (ingest.bulk_orders): line items written as the file comes in.

A line item is written when it arrives, joined to its order's staged header, so what the
dict path decides per whole order must hold here across batches: a webhook's newer version or
delete of an order mid-file wins over the file's later lines, a resumed read joins lines to
headers staged before the crash, and nothing stays staged once the file is done.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import bulk_orders, orders, parse
from posai_app.models import BulkOrderHeader, OrderLineItem
from posai_app.tenancy import select_for_shop
from tests.fakeshopify import dataset, shapes

pytestmark = pytest.mark.usefixtures("requires_postgres")

LATER = "2031-06-01T00:00:00Z"


def _nodes(count: int) -> list[tuple[dict, list[dict]]]:
    _, history = dataset.small_history(count)
    return [
        (shapes.order_node(o), [shapes.line_item_node(li, o.get("currency")) for li in o["line_items"]])
        for o in history
        if len(o["line_items"]) > 2
    ]


def _late_lines(nodes) -> list[str]:
    """Every order first, then every line item: the latest an ungrouped file can place them."""
    lines = [json.dumps(node) for node, _ in nodes]
    return lines + [json.dumps({**li, "__parentId": node["id"]}) for node, items in nodes for li in items]


def _stored(shop_id: int) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for row in db.session.execute(select_for_shop(OrderLineItem, shop_id)).scalars():
        out.setdefault(row.order_id, set()).add(row.line_item_id)
    return out


def _ids(node, items) -> tuple[int, set[int]]:
    return parse.from_gid(node["id"]), {parse.from_gid(li["id"]) for li in items}


def test_a_webhook_mid_file_wins_over_the_files_later_lines(app, shop):
    """Order A is updated (a line edited out) and order B deleted by webhooks after their headers
    are written but before any of their line items arrive: A keeps the webhook's lines, B stays
    gone, and every other order is stored as the file has it."""
    nodes = _nodes(12)
    (a, a_items), (b, _) = nodes[0], nodes[1]
    lines = _late_lines(nodes)

    def webhooks_after_the_first_batch(_result, batch) -> None:
        if batch.end_line <= len(nodes):  # headers only so far
            newer = parse.order_from_graphql({**a, "updatedAt": LATER}, a_items[:-1])
            orders.upsert_orders(shop.id, [newer])
            orders.delete_orders(shop.id, [parse.from_gid(b["id"])])
        db.session.commit()

    with app.app_context():
        bulk_orders.import_orders(
            shop.id, lines, batch_lines=len(nodes), on_batch=webhooks_after_the_first_batch
        )
        db.session.commit()
        stored = _stored(shop.id)
        a_id, a_lines = _ids(a, a_items)
        assert stored[a_id] == a_lines - {parse.from_gid(a_items[-1]["id"])}
        assert parse.from_gid(b["id"]) not in stored
        for node, items in nodes[2:]:
            order_id, line_ids = _ids(node, items)
            assert stored[order_id] == line_ids
        assert not db.session.scalars(select_for_shop(BulkOrderHeader, shop.id)).all()


def test_a_resumed_read_joins_lines_to_the_headers_staged_before_it(app, shop, other_shop):
    """Killed after the batch that wrote every header (no line item yet), the import resumes from
    its committed line and stores what one uninterrupted read stores."""
    nodes = _nodes(10)
    lines = _late_lines(nodes)

    class Killed(BaseException):
        pass

    def kill_after_headers(_result, batch) -> None:
        db.session.commit()
        if batch.end_line >= len(nodes):
            raise Killed

    with app.app_context():
        bulk_orders.import_orders(other_shop.id, lines, batch_lines=7)
        db.session.commit()
        with pytest.raises(Killed):
            bulk_orders.import_orders(shop.id, lines, batch_lines=len(nodes), on_batch=kill_after_headers)
        db.session.rollback()
        assert _stored(shop.id) == {}
        staged = db.session.scalar(
            sa.select(sa.func.count()).select_from(BulkOrderHeader).where(BulkOrderHeader.shop_id == shop.id)
        )
        assert staged == len(nodes)
        bulk_orders.import_orders(shop.id, lines, start_line=len(nodes), batch_lines=7)
        db.session.commit()
        assert _stored(shop.id) == _stored(other_shop.id) != {}
        assert not db.session.scalars(select_for_shop(BulkOrderHeader, shop.id)).all()


def test_a_file_read_afresh_forgets_an_earlier_files_headers(app, shop):
    """Headers left by an abandoned read (another bulk operation) never join a new file's lines."""
    nodes = _nodes(6)
    (node, items), rest = nodes[0], nodes[1:]
    with app.app_context():
        # The abandoned read stored the order's version and left its header staged.
        bulk_orders.import_orders(shop.id, [json.dumps(node)])
        db.session.add(
            BulkOrderHeader(
                shop_id=shop.id,
                order_id=parse.from_gid(node["id"]),
                created_at=parse.parse_datetime(node["createdAt"]),
                shopify_updated_at=parse.parse_datetime(node["createdAt"]),
            )
        )
        db.session.commit()
        # The new file has the order's line items but (wrongly listed elsewhere) not the order.
        lines = _late_lines(rest) + [json.dumps({**li, "__parentId": node["id"]}) for li in items]
        bulk_orders.import_orders(shop.id, lines)
        db.session.commit()
        stored = _stored(shop.id)
        assert set(stored) == {parse.from_gid(n["id"]) for n, _ in rest}


def test_a_shop_deleted_mid_sync_leaves_no_line_item_behind(app, shop):
    """order_line_items has no foreign key (migration 0016). A shop deleted while a batch of its
    line items is being written waits for that batch, then removes its rows; the next batch finds
    the shop gone and writes nothing."""
    import threading

    from posai_app.ingest.upserts import ShopGone
    from posai_app.shops.lifecycle import delete_shop_data

    nodes = _nodes(6)
    lines = _late_lines(nodes)
    written, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def sync() -> None:
        def hold_the_first_batch(_result, batch) -> None:
            written.set()
            release.wait(10)
            db.session.commit()

        try:
            with app.app_context():
                bulk_orders.import_orders(
                    shop.id, lines, batch_lines=len(lines) // 2, on_batch=hold_the_first_batch
                )
        except BaseException as exc:  # the second batch's ShopGone
            errors.append(exc)

    def uninstall() -> None:
        with app.app_context():
            delete_shop_data(shop.id)
            db.session.commit()

    syncing = threading.Thread(target=sync)
    syncing.start()
    assert written.wait(10)
    deleting = threading.Thread(target=uninstall)
    deleting.start()
    deleting.join(1.0)
    assert deleting.is_alive()  # waits for the batch in flight
    release.set()
    deleting.join(10)
    syncing.join(10)
    assert [type(e) for e in errors] == [ShopGone]
    with app.app_context():
        left = db.session.scalar(
            sa.select(sa.func.count()).select_from(OrderLineItem).where(OrderLineItem.shop_id == shop.id)
        )
        assert left == 0


def _tagged_order(app, shop) -> tuple[dict, list[dict], list[str]]:
    """An order with a line the POS added from a recommendation (`_posai`): impact rows."""
    from posai_app.impact import ids
    from tests.ingest.test_bulk_copy_path import _awkward_orders

    with app.app_context():
        token = ids.mint(
            ids.signing_key(app.config), shop.id, "cosine", 4, [1003], [1002, 1011], now=1_893_578_400
        )
    order = next(o for o in _awkward_orders(token) if o["id"] == 9003)
    node = shapes.order_node(order)
    items = [shapes.line_item_node(li, order.get("currency")) for li in order["line_items"]]
    return node, items, [json.dumps(node)] + [json.dumps({**li, "__parentId": node["id"]}) for li in items]


def _meanwhile(app, change) -> None:
    """`change()` committed by another worker (its own session), now."""
    import threading

    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                change()
                db.session.commit()
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert not errors, errors


@pytest.mark.parametrize("webhook", ["deleted", "updated"])
def test_impact_rows_of_the_second_read_leave_a_webhooks_change_alone(app, shop, webhook):
    """The tagged orders' impact rows come from a second read of the file, after every line is
    written; an order a webhook deleted or updated meanwhile keeps what the webhook left (found by
    review: the second read once rebuilt them from the file's older version)."""
    from posai_app.models import ImpactLine, ImpactOrder

    node, items, lines = _tagged_order(app, shop)
    newer = {**node, "updatedAt": LATER, "cancelledAt": LATER}

    def change() -> None:
        if webhook == "deleted":
            orders.delete_orders(shop.id, [9003])
        else:
            orders.upsert_orders(shop.id, [parse.order_from_graphql(newer, items)])

    def reread():
        _meanwhile(app, change)
        return lines

    with app.app_context():
        bulk_orders.import_orders(shop.id, lines, reread=reread, on_batch=lambda *_: db.session.commit())
        db.session.commit()
        impact = db.session.scalars(select_for_shop(ImpactLine, shop.id)).all()
        if webhook == "deleted":
            assert impact == [] and db.session.scalars(select_for_shop(ImpactOrder, shop.id)).all() == []
        else:
            assert impact and all(row.cancelled_at is not None for row in impact)


def test_a_run_replacing_one_still_alive_stores_the_same_rows(app, shop, other_shop):
    """A sync whose heartbeat looked dead is replaced (sync.resume_interrupted_sync) while it still
    runs. Here the old run has written the whole file when the replacement, resumed from the old
    run's first commit, stages the orders again; the old run then ends (removing the staged
    headers) before the replacement reaches the line items. The replacement must not have pruned
    the old run's lines of the same version (found by review)."""
    import threading

    nodes = _nodes(12)
    lines = _late_lines(nodes)
    staged_again, old_run_done = threading.Event(), threading.Event()

    def replacement() -> None:
        def pause_after_the_headers(_result, batch) -> None:
            db.session.commit()
            if batch.end_line == len(nodes):
                staged_again.set()
                old_run_done.wait(30)

        with app.app_context():
            bulk_orders.import_orders(
                shop.id, lines, start_line=1, batch_lines=len(nodes) - 1, on_batch=pause_after_the_headers
            )
            db.session.commit()

    worker = threading.Thread(target=replacement)

    def old_run_batch(_result, batch) -> None:
        db.session.commit()
        worker.start()
        assert staged_again.wait(30)

    with app.app_context():
        bulk_orders.import_orders(other_shop.id, lines)
        db.session.commit()
        bulk_orders.import_orders(shop.id, lines, batch_lines=len(lines), on_batch=old_run_batch)
        db.session.commit()
        old_run_done.set()
        worker.join(30)
        assert _stored(shop.id) == _stored(other_shop.id) != {}


def test_an_uninstall_racing_an_order_webhook_neither_deadlocks_nor_leaves_a_line(app, shop):
    """A webhook drain records its receipts (their key locks the shop's row) before it writes the
    orders (the orders lock); a shop deleted between the two waits on the row and then removes the
    drain's line items. Locking the orders first in the delete deadlocked (found by review)."""
    import threading
    import time
    from datetime import UTC, datetime

    from posai_app.models import Shop
    from posai_app.shops.lifecycle import delete_shop_data
    from posai_app.webhooks import receipts

    order = {
        "order_id": 1,
        "created_at": "2026-11-01T10:00:00Z",
        "updated_at": "2026-11-01T10:00:00Z",
        "line_items": [
            {"line_item_id": 10, "variant_id": 7001, "title": "x", "quantity": 1, "price": "1.00"}
        ],
    }
    recorded, go = threading.Event(), threading.Event()
    errors: dict[str, BaseException | None] = {}

    def in_worker(name: str, work) -> threading.Thread:
        def run() -> None:
            with app.app_context():
                try:
                    work()
                    db.session.commit()
                    errors[name] = None
                except BaseException as exc:
                    db.session.rollback()
                    errors[name] = exc

        thread = threading.Thread(target=run)
        thread.start()
        return thread

    def drain() -> None:
        receipts.record_many_in_transaction(shop.id, [("w1", "orders/create", datetime.now(UTC))])
        recorded.set()
        go.wait(10)
        orders.upsert_orders(shop.id, [order])

    draining = in_worker("drain", drain)
    assert recorded.wait(10)
    deleting = in_worker("delete", lambda: delete_shop_data(shop.id))
    time.sleep(0.5)  # the delete now waits on the shop's row
    go.set()
    draining.join(20)
    deleting.join(20)
    assert errors == {"drain": None, "delete": None}
    with app.app_context():
        assert db.session.get(Shop, shop.id) is None
        left = sa.select(sa.func.count()).select_from(OrderLineItem).where(OrderLineItem.shop_id == shop.id)
        assert db.session.scalar(left) == 0


def _line_item_inserts(run) -> list[str]:
    """The INSERTs into order_line_items that `run()` sends."""
    sent: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO ORDER_LINE_ITEMS"):
            sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return sent


def test_a_first_sync_inserts_and_a_stored_line_falls_back_to_the_upsert(app, shop, other_shop):
    """A fresh shop's line items go in as plain INSERTs (no ON CONFLICT); a file that meets a line
    item already stored (a webhook wrote its order at the file's version) rolls that batch back to
    the guarded upsert and keeps it for the rest of the file, and stores what the file has."""
    nodes = _nodes(12)
    lines = _late_lines(nodes)
    batch = len(nodes)
    with app.app_context():
        sent = _line_item_inserts(lambda: bulk_orders.import_orders(other_shop.id, lines, batch_lines=batch))
        db.session.commit()
        assert sent and not any("ON CONFLICT" in s for s in sent)

        node, items = nodes[len(nodes) // 2]  # its lines come in the second batch of lines
        orders.upsert_orders(shop.id, [parse.order_from_graphql(node, items)])
        db.session.commit()
        sent = _line_item_inserts(lambda: bulk_orders.import_orders(shop.id, lines, batch_lines=batch))
        db.session.commit()
        guarded = ["ON CONFLICT" in s for s in sent]
        assert guarded[0] is False and guarded.index(True) >= 2  # the first batch of lines went in plain
        assert all(guarded[guarded.index(True) :])
        assert _stored(shop.id) == _stored(other_shop.id) != {}
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(OrderLineItem).where(OrderLineItem.shop_id == shop.id)
        ) == sum(len(items) for _, items in nodes)

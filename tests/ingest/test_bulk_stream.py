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

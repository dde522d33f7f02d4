"""The initial sync's COPY path stores exactly what the dict path stores.

On PostgreSQL a bulk file's orders skip the dict shapes: `ingest.bulk_orders` writes the file's
lines as they stream in (docs/ingestion.md "At COPY speed"); catch-up pages, webhooks and SQLite
keep `parse.order_from_graphql` + `orders.upsert_orders`. Both are fed here the same Admin
GraphQL nodes (the fake's shapes of real orders, plus the awkward values Shopify can send:
control characters and backslashes in titles, removed and refunded lines, custom sales, prices
that are not plain decimals, impact tags) for two shops, the COPY path as an ungrouped bulk file
(each order's line items after the next order), through the same rounds of newer, stale,
duplicated and deleted versions, and every stored row must be the same.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from posai_app.extensions import db
from posai_app.impact import ids
from posai_app.ingest import bulk_orders, orders, parse, upserts
from posai_app.models import ImpactDrop, ImpactLine, ImpactOrder, OrderLineItem, OrderVersion
from posai_app.tenancy import select_for_shop
from tests.fakeshopify import dataset, shapes

pytestmark = pytest.mark.usefixtures("requires_postgres")

CREATED = "2030-01-02T10:00:00Z"
LATER = "2030-01-03T08:30:00.250+02:00"
TABLES = (OrderLineItem, OrderVersion, ImpactLine, ImpactOrder, ImpactDrop)


def _line(
    line_id: int, variant_id: int | None, title, price, *, quantity=1, current=None, sku=None, props=()
):
    return {
        "id": line_id,
        "variant_id": variant_id,
        "product_id": None if variant_id is None else variant_id + 1_000_000,
        "title": title,
        "quantity": quantity,
        "current_quantity": quantity if current is None else current,
        "price": price,
        "sku": sku,
        "properties": list(props),
    }


def _awkward_orders(token: str) -> list[dict]:
    """REST-shaped orders (shapes.order_node / line_item_node turn them into GraphQL nodes) with
    the values where two writers could disagree."""
    tag = [{"name": "_posai", "value": token}]
    return [
        {
            "id": 9001,
            "name": "#9001",
            "created_at": "2030-01-01T23:59:59.999999-05:00",  # an offset, microseconds
            "updated_at": CREATED,
            "currency": "GBP",
            "line_items": [
                _line(1, 11, "tab\there, new\nline, back\\slash, NUL\x00 and \x07 bell", "2.545"),
                _line(2, 12, "emoji \U0001f600 é", "10", quantity=3, sku="SKU\\1\t"),
                _line(3, 13, "removed by an edit", "4.00", quantity=2, current=0),
                _line(4, 14, "partly refunded", "1E+1", quantity=5, current=2),
                _line(5, None, "custom sale", "-0.00"),  # no variant, no product
                _line(6, 15, "", "3.999", sku=""),  # empty title and SKU
                _line(7, 16, "no price", None),
                _line(8, 17, "not a price", "NaN"),
            ],
        },
        {
            "id": 9002,
            "name": None,  # no name, so no number
            "created_at": CREATED,
            "updated_at": None,  # the version falls back to created_at
            "cancelled_at": "2030-01-02T11:00:00Z",
            "currency": None,
            "line_items": [_line(21, 11, "cancelled", "2.55", quantity=6)],
        },
        {
            "id": 9003,
            "name": "Order 77-B",
            "created_at": CREATED,
            "updated_at": CREATED,
            "currency": "EUR",
            "source_name": "pos",
            "location_id": 3,
            "note_attributes": [{"name": "_posai_shown", "value": token}],
            "line_items": [
                _line(31, 1002, "upsell", "4.50", quantity=2, current=1, props=tag),
                _line(32, 1003, "cart item", "1.25"),
            ],
        },
        {
            "id": 9004,
            "name": "#9004",
            "created_at": CREATED,
            "updated_at": CREATED,
            "currency": "GBP",
            "line_items": [_line(41, 11, "every line removed", "1.00", current=0)],
        },
    ]


def _nodes(shop, app, history: list[dict]) -> list[tuple[dict, list[dict]]]:
    with app.app_context():
        token = ids.mint(
            ids.signing_key(app.config), shop.id, "cosine", 4, [1003], [1002, 1011], now=1_893_578_400
        )
    rest = history + _awkward_orders(token)
    return [
        (shapes.order_node(o), [shapes.line_item_node(li, o.get("currency")) for li in o["line_items"]])
        for o in rest
    ]


def _newer(nodes, *, updated_at: str, drop_line: bool = True):
    """The same orders as a later version: each order's last line edited out, the first's
    quantity changed."""
    out = []
    for node, lines in nodes:
        lines = [dict(li) for li in lines]
        if lines:
            lines[0]["currentQuantity"] = (lines[0]["currentQuantity"] or 0) + 1
        if drop_line and len(lines) > 1:
            lines = lines[:-1]
        out.append(({**node, "updatedAt": updated_at}, lines))
    return out


def _apply_dict_path(shop_id, nodes):
    return orders.upsert_orders(
        shop_id, (parse.order_from_graphql(node, lines) for node, lines in nodes), batch_rows=40
    )


def _file_lines(nodes) -> list[str]:
    """The orders as an ungrouped bulk file: each order's line items after the next order's line."""
    lines: list[str] = []
    pending: list[str] = []
    for node, items in nodes:
        lines.append(json.dumps(node))
        lines += pending
        pending = [json.dumps({**li, "__parentId": node["id"]}) for li in items]
    return lines + pending


def _apply_copy_path(shop_id, nodes):
    # A bulk file lists each order once; where a round lists one twice, the file holds the
    # listing the dict path keeps (the newest; of equal versions, the later).
    newest: dict[str, tuple[dict, list[dict]]] = {}
    for node, items in nodes:
        version = parse.parse_datetime(node.get("updatedAt") or node["createdAt"])
        kept = newest.get(node["id"])
        if kept is None or version >= parse.parse_datetime(kept[0].get("updatedAt") or kept[0]["createdAt"]):
            newest.pop(node["id"], None)
            newest[node["id"]] = (node, items)
    lines = _file_lines(list(newest.values()))
    return bulk_orders.import_orders(shop_id, lines, batch_lines=40, reread=lambda: lines)


def _rows(shop_id: int) -> dict[str, list[dict]]:
    """Every stored row of the order tables for the shop, without shop_id (and without the
    recommendation ids, which are minted per shop), in key order."""
    out = {}
    for model in TABLES:
        table = model.__table__
        columns = [c for c in table.c if c.name not in ("shop_id", "recommendation_id")]
        stmt = select_for_shop(model, shop_id).with_only_columns(*columns)
        rows = [dict(row._mapping) for row in db.session.execute(stmt)]
        out[table.name] = sorted(rows, key=lambda row: tuple(map(str, row.values())))
    return out


def _result(result: upserts.UpsertResult) -> dict:
    return dataclasses.asdict(result)


def _both(app, shop, other_shop, apply_nodes):
    """Apply `apply_nodes(shop)` to `shop` by the dict path and to `other_shop` by the COPY path,
    commit, and return both shops' (result, rows)."""
    with app.app_context():
        by_dict = _result(_apply_dict_path(shop.id, apply_nodes(shop)))
        db.session.commit()
        by_copy = _result(_apply_copy_path(other_shop.id, apply_nodes(other_shop)))
        db.session.commit()
        return (by_dict, _rows(shop.id)), (by_copy, _rows(other_shop.id))


def test_the_copy_path_stores_the_rows_of_the_dict_path(app, shop, other_shop):
    """Real orders and awkward ones, in batches of 40 line items: the same rows, versions, impact
    rows and counts either way, and the awkward values stored as the dict path cleans them."""
    _, history = dataset.small_history(30)
    first = {s.id: _nodes(s, app, history) for s in (shop, other_shop)}

    by_dict, by_copy = _both(app, shop, other_shop, lambda s: first[s.id])

    assert by_copy == by_dict
    result, rows = by_dict
    assert result["orders"] == 34 and result["line_items"] == len(rows["order_line_items"]) > 100
    stored = {row["line_item_id"]: row for row in rows["order_line_items"]}
    assert stored[1]["title"] == "tab\there, new\nline, back\\slash, NUL and  bell"
    assert (stored[2]["title"], stored[2]["sku"], stored[2]["quantity"]) == (
        "emoji \U0001f600 é",
        "SKU\\1\t",
        3,
    )
    assert (stored[6]["title"], stored[6]["sku"], stored[4]["quantity"]) == ("", None, 2)
    assert [str(stored[i]["price"]) for i in (1, 2, 4, 5)] == ["2.55", "10.00", "10.00", "0.00"]
    assert stored[7]["price"] is stored[8]["price"] is None and stored[5]["is_custom_sale"]
    assert 3 not in stored and 41 not in stored  # removed lines are not purchases
    assert stored[21]["cancelled_at"] is not None and stored[31]["order_number"] == 77
    assert len(rows["impact_lines"]) == 1 and len(rows["impact_orders"]) == 1


def test_later_versions_go_through_the_same_guards_either_way(app, shop, other_shop):
    """A newer version (lines edited out, quantities changed), then a stale one, a deleted order,
    and one order listed twice in a batch: both writers prune, skip and count alike."""
    _, history = dataset.small_history(12)
    first = {s.id: _nodes(s, app, history) for s in (shop, other_shop)}
    newer = {sid: _newer(nodes, updated_at=LATER) for sid, nodes in first.items()}
    stale = {
        sid: _newer(nodes, updated_at="2029-12-31T00:00:00Z", drop_line=False) for sid, nodes in first.items()
    }

    assert _both(app, shop, other_shop, lambda s: first[s.id])[1][1]  # rows were stored

    by_dict, by_copy = _both(app, shop, other_shop, lambda s: newer[s.id])
    assert by_copy == by_dict
    assert by_dict[0]["orders"] == 16 and by_dict[0]["new_order_ids"] == []

    by_dict, by_copy = _both(app, shop, other_shop, lambda s: stale[s.id])
    assert by_copy == by_dict
    assert by_dict[0]["stale_skipped"] == 16 and by_dict[0]["orders"] == 0

    with app.app_context():
        for s in (shop, other_shop):
            orders.delete_orders(s.id, [9001])
        db.session.commit()
    # 9002 twice in one batch (the later listing is older: the newest wins), 9001 deleted.
    repeated = {sid: [*newer[sid][:2], first[sid][-3], newer[sid][-3], *newer[sid][-4:]] for sid in newer}
    by_dict, by_copy = _both(app, shop, other_shop, lambda s: repeated[s.id])
    assert by_copy == by_dict
    assert by_dict[0]["deleted_skipped"] == 1
    assert not [r for r in by_dict[1]["order_line_items"] if r["order_id"] == 9001]


def test_the_comparison_sees_a_difference(app, shop, other_shop, monkeypatch):
    """The check above can fail: a COPY row that drops the SKU is caught."""
    _, history = dataset.small_history(3)
    nodes = {s.id: _nodes(s, app, history) for s in (shop, other_shop)}
    real = parse.copy_text
    calls = iter(range(10**6))
    monkeypatch.setattr(parse, "copy_text", lambda v: "\\N" if next(calls) % 2 and v else real(v))

    by_dict, by_copy = _both(app, shop, other_shop, lambda s: nodes[s.id])

    assert by_copy[0] == by_dict[0]
    assert by_copy[1] != by_dict[1]

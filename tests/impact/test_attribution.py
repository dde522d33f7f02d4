"""Orders close the loop: `_posai` lines are attributed upsells (net of discounts, refunds and
cancellation), `_posai_shown` carts become live hits; webhooks and the GraphQL sync alike."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.impact import attribution, ids
from posai_app.models import ImpactDrop, ImpactLine, ImpactOrder, OrderLineItem
from posai_app.tenancy import select_for_shop
from posai_app.webhooks import handlers
from tests.helpers import TEST_API_SECRET
from tests.impact.conftest import added, shown
from tests.webhooks import examples

CREATED = "2030-01-02T10:00:00Z"  # orders are checked against their own time, not the test's


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


@pytest.fixture
def deliver(client, fake, run_jobs):
    """deliver(topic, shop, payload, webhook_id=None): a signed webhook, applied (RQ drained)."""

    def _deliver(topic, shop, payload, webhook_id=None):
        examples.check_shape(topic, payload)
        body, headers = fake.webhook(topic, shop.domain, payload, TEST_API_SECRET, webhook_id=webhook_id)
        response = client.post("/webhooks", data=body, headers=headers)
        assert response.status_code == 200, response.get_data(True)
        run_jobs()

    return _deliver


def _answer(app, shop, cart=(1003,), items=(1002, 1011), metric="cosine"):
    with app.app_context():
        token = ids.mint(
            ids.signing_key(app.config), shop.id, metric, 4, list(cart), list(items), now=1_893_578_400
        )
    return {"recommendationId": token, "recommendations": [{"variantId": str(v)} for v in items]}


def _order(
    topic, answer, *, updated_at=CREATED, tagged_quantity=2, kept=2, cancelled_at=None, shown_ids=None
):
    tag = [{"name": "_posai", "value": answer["recommendationId"]}]
    payload = examples.order(
        topic,
        5001,
        [
            {
                "id": 7001,
                "variant_id": 1003,
                "product_id": 3,
                "title": "Tea towel",
                "quantity": 1,
                "price": "8.00",
            },
            {
                "id": 7002,
                "variant_id": 1002,
                "product_id": 2,
                "title": "Coaster",
                "quantity": tagged_quantity,
                "current_quantity": kept,
                "price": "4.50",
                "price_set": {
                    "shop_money": {"amount": "4.50", "currency_code": "GBP"},
                    "presentment_money": {"amount": "5.25", "currency_code": "EUR"},
                },
                "properties": tag,
                "attributed_staffs": [],
                "discount_allocations": [
                    {
                        "amount": "1.00",
                        "amount_set": {
                            "shop_money": {"amount": "1.00", "currency_code": "GBP"},
                            "presentment_money": {"amount": "1.17", "currency_code": "EUR"},
                        },
                        "discount_application_index": 0,
                    }
                ],
            },
        ],
        name="#1001",
        created_at=CREATED,
        updated_at=updated_at,
        cancelled_at=cancelled_at,
    )
    payload.update(location_id=3, user_id=55, source_name="pos")
    shown_value = " ".join(shown_ids if shown_ids is not None else [answer["recommendationId"]])
    payload["note_attributes"] = [{"name": "_posai_shown", "value": shown_value}] if shown_value else []
    return payload


def _lines(app, shop_id):
    with app.app_context():
        return db.session.scalars(select_for_shop(ImpactLine, shop_id)).all()


def _links(app, shop_id):
    with app.app_context():
        return db.session.scalars(select_for_shop(ImpactOrder, shop_id)).all()


def test_net_revenue_by_hand():
    assert attribution.net_revenue(Decimal("4.50"), 2, 2, Decimal("1.00"), False) == Decimal("8.00")
    assert attribution.net_revenue(Decimal("4.50"), 2, 1, Decimal("1.00"), False) == Decimal("4.00")
    assert attribution.net_revenue(Decimal("4.50"), 3, 1, Decimal("1.00"), False) == Decimal("4.17")
    assert attribution.net_revenue(Decimal("4.50"), 2, 0, Decimal("1.00"), False) == Decimal("0.00")
    assert attribution.net_revenue(Decimal("4.50"), 2, 2, Decimal("1.00"), True) == Decimal("0.00")
    assert attribution.net_revenue(Decimal("1.00"), 1, 1, Decimal("5.00"), False) == Decimal("0.00")


def test_a_tagged_line_is_an_attributed_upsell_and_redelivery_changes_nothing(
    deliver, app, client, fake, shop
):
    answer = _answer(app, shop)
    order = _order("orders/create", answer)
    deliver("orders/create", shop, order, webhook_id="wh-1")
    [line] = _lines(app, shop.id)
    assert (line.line_item_id, line.order_id, line.variant_id, line.recommendation_id) == (
        7002,
        5001,
        1002,
        answer["recommendationId"],
    )
    assert (line.metric, line.model_version, line.arm) == ("cosine", 4, "champion")
    assert (line.location_id, line.staff_member_id, line.source_name, line.currency) == (3, 55, "pos", "GBP")
    assert (line.quantity, line.current_quantity, line.unit_price, line.discount) == (
        2,
        2,
        Decimal("4.50"),
        Decimal("1.00"),
    )
    assert line.revenue == Decimal("8.00")  # 4.50 × 2 − 1.00, shop currency (not the EUR presentment)
    [link] = _links(app, shop.id)
    assert (link.order_id, link.hit, link.cancelled) == (5001, True, False)
    before = [(r.line_item_id, r.revenue, r.current_quantity) for r in _lines(app, shop.id)]
    deliver("orders/create", shop, order, webhook_id="wh-2")  # Shopify redelivers
    deliver("orders/updated", shop, _order("orders/updated", answer), webhook_id="wh-3")
    assert [(r.line_item_id, r.revenue, r.current_quantity) for r in _lines(app, shop.id)] == before
    assert len(_links(app, shop.id)) == 1


def test_refunds_and_cancellation_subtract_and_stale_payloads_do_not_undo_them(
    deliver, app, client, fake, shop
):
    answer = _answer(app, shop)
    deliver("orders/create", shop, _order("orders/create", answer))
    refunded = _order("orders/updated", answer, updated_at="2030-01-03T10:00:00Z", kept=1)
    deliver("orders/updated", shop, refunded)
    assert [r.revenue for r in _lines(app, shop.id)] == [Decimal("4.00")]  # 4.50 − 0.50 of the discount
    deliver("orders/create", shop, _order("orders/create", answer))  # late, older
    assert [r.revenue for r in _lines(app, shop.id)] == [Decimal("4.00")]
    cancelled = _order(
        "orders/cancelled",
        answer,
        updated_at="2030-01-04T10:00:00Z",
        cancelled_at="2030-01-04T10:00:00Z",
        kept=1,
    )
    deliver("orders/cancelled", shop, cancelled)
    [line] = _lines(app, shop.id)
    assert line.revenue == Decimal("0.00") and line.cancelled_at is not None
    assert [link.cancelled for link in _links(app, shop.id)] == [True]
    fully = _order("orders/updated", answer, updated_at="2030-01-05T10:00:00Z", kept=0)
    deliver("orders/updated", shop, fully)  # a full refund keeps the line, at 0
    assert [(r.current_quantity, r.revenue) for r in _lines(app, shop.id)] == [(0, Decimal("0.00"))]


def test_a_shown_cart_that_became_an_order_without_a_tap_is_a_live_miss_or_hit(
    deliver, app, client, fake, shop
):
    tapped = _answer(app, shop, items=(1002, 1011))
    missed = _answer(app, shop, cart=(1003, 1002), items=(1010, 1011))
    order = _order(
        "orders/create", tapped, shown_ids=[tapped["recommendationId"], missed["recommendationId"]]
    )
    deliver("orders/create", shop, order)
    hits = {link.recommendation_id: link.hit for link in _links(app, shop.id)}
    assert hits == {tapped["recommendationId"]: True, missed["recommendationId"]: False}


def test_forged_and_foreign_tags_are_not_attributed_and_are_counted_once(
    deliver, app, client, fake, shop, other_shop
):
    foreign = _answer(app, other_shop)
    forged = {"recommendationId": foreign["recommendationId"][:-3] + "xyz"}
    deliver("orders/create", shop, _order("orders/create", foreign, shown_ids=[forged["recommendationId"]]))
    deliver("orders/create", shop, _order("orders/create", foreign), webhook_id="again")
    assert _lines(app, shop.id) == [] and _links(app, shop.id) == []
    with app.app_context():
        assert db.session.scalar(sa.select(ImpactDrop.count).where(ImpactDrop.reason == "order_tag")) == 2
        kept = db.session.scalar(sa.select(sa.func.count()).select_from(OrderLineItem))
        assert kept == 2  # the order itself is kept


def test_deleting_or_redacting_an_order_removes_its_impact_rows(deliver, app, client, fake, shop):
    answer = _answer(app, shop)
    deliver("orders/create", shop, _order("orders/create", answer))
    assert _lines(app, shop.id)
    deliver("orders/delete", shop, examples.deleted("orders/delete", 5001))
    assert _lines(app, shop.id) == [] and _links(app, shop.id) == []


def test_staff_and_location_from_the_pos_when_the_order_does_not_name_them(
    deliver, app, client, fake, shop, small_shop, recommend, send_events
):
    answer = recommend(small_shop, ["1003"])
    first = answer["recommendations"][0]["variantId"]
    send_events(
        small_shop, [shown(answer, location="8", staff="77"), added(answer, first, location="8", staff="77")]
    )
    with app.app_context():
        order = examples.order_from_shape(
            {
                "id": 6001,
                "name": "#1002",
                "created_at": "2030-01-02T10:00:00Z",
                "line_items": [
                    {
                        "id": 8001,
                        "variant_id": int(first),
                        "product_id": 2,
                        "title": "x",
                        "quantity": 1,
                        "price": "4.50",
                    }
                ],
            }
        )
    item = order["line_items"][0]
    item["properties"] = [{"name": "_posai", "value": answer["recommendationId"]}]
    item["attributed_staffs"] = []  # Shopify's example names a staff member; this online order does not
    item["price_set"] = {
        "shop_money": {"amount": "4.50", "currency_code": "GBP"},
        "presentment_money": {"amount": "4.50", "currency_code": "GBP"},
    }
    order["created_at"] = order["updated_at"] = order["processed_at"] = _now_iso()
    deliver("orders/create", small_shop, order)
    [line] = _lines(app, small_shop.id)
    assert (line.location_id, line.staff_member_id, line.revenue) == (8, 77, Decimal("4.50"))


def _now_iso():
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_graphql_sync_reads_the_same_tags_location_and_source(app, fake, shop):
    from posai_app.ingest import sync

    answer = _answer(app, shop)
    rest = {
        "id": 9001,
        "name": "#2001",
        "created_at": CREATED,
        "updated_at": CREATED,
        "currency": "GBP",
        "location_id": 3,
        "source_name": "pos",
        "note_attributes": [{"name": "_posai_shown", "value": answer["recommendationId"]}],
        "line_items": [
            {
                "id": 9101,
                "variant_id": 1003,
                "product_id": 3,
                "title": "Tea towel",
                "quantity": 1,
                "price": "8.00",
            },
            {
                "id": 9102,
                "variant_id": 1002,
                "product_id": 2,
                "title": "Coaster",
                "quantity": 2,
                "price": "4.50",
                "properties": [{"name": "_posai", "value": answer["recommendationId"]}],
                "discount_allocations": [{"amount": "1.00"}],
            },
        ],
    }
    fake.add_shop(shop.domain, shop.access_token, products=[], orders=[rest])
    with app.app_context():
        sync.sync_orders(shop.id)
        db.session.commit()
    [line] = _lines(app, shop.id)
    assert (line.line_item_id, line.location_id, line.staff_member_id, line.source_name) == (
        9102,
        3,
        None,
        "pos",
    )
    assert (line.revenue, line.discount) == (Decimal("8.00"), Decimal("1.00"))
    assert [link.hit for link in _links(app, shop.id)] == [True]

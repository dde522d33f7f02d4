"""`posai demo` replays a simulated POS day: held-out orders as carts through the real API, events
and webhook endpoints; the Impact section fills, labelled as simulated; a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from posai_app.demo import DEMO_SHOP_DOMAIN, replay
from posai_app.demo.payloads import read_rows
from posai_app.extensions import db
from posai_app.impact import organic, report
from posai_app.impact.simulated import EVENT_PREFIX
from posai_app.ingest.parse import order_from_rest
from posai_app.models import (
    EvaluationRun,
    ImpactAdded,
    ImpactDrop,
    ImpactLine,
    ImpactShown,
    OrderLineItem,
    Shop,
    WebhookDelivery,
)
from tests.webhooks import examples

SLICE = str(Path(__file__).resolve().parents[1] / "data" / "online_retail_3000.csv.gz")


def _figures(app, shop_id):
    with app.app_context():
        figures = report.impact_report(shop_id, 7)
        counts = {
            m.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (ImpactShown, ImpactAdded, ImpactLine, ImpactDrop)
        }
        db.session.remove()
    return figures, counts


def test_the_held_out_day_is_planned_the_same_way_every_time():
    orders = replay.held_out_orders(SLICE)
    assert len(orders) == 300  # a tenth of the slice's 3,000 orders, the latest ones
    assert orders[0][0].created_at <= orders[-1][0].created_at
    assert orders[-1][0].created_at == max(r.created_at for r in read_rows(SLICE))
    day = date(2026, 11, 30)
    first, second = replay.plan_day(orders, day), replay.plan_day(orders, day)
    assert first == second
    assert all(
        datetime(2026, 11, 30, 9, tzinfo=UTC) <= c.at < datetime(2026, 11, 30, 18, tzinfo=UTC) for c in first
    )
    assert [c.at for c in first] == sorted(c.at for c in first)
    assert {c.location_id for c in first} == set(replay.LOCATIONS)
    assert all(c.staff_member_id in replay.LOCATIONS[c.location_id] for c in first)
    assert all(1 <= len(c.cart) <= 2 for c in first)
    cart = first[0]
    assert [cart.taps(v) for v in range(41_000_000_000_000, 41_000_000_000_050)] == [
        cart.taps(v) for v in range(41_000_000_000_000, 41_000_000_000_050)
    ]
    assert replay.plan_day(orders, day, seed=17) != first


def _tagged_order():
    cart = replay.plan_day(replay.held_out_orders(SLICE), date(2026, 11, 30))[0]
    in_order = cart.rows[-1]
    in_order_id = replay.variant_id_for(in_order.variant_code)

    class Variant:  # the catalog row of a suggestion the customer did not pick
        product_id, product_title, price, sku = 42_000_000_000_001, "Tea towel", Decimal("2.95"), "T1"

    payload = replay.pos_order_payload(
        cart, "REC-ID", [in_order_id, 41_000_000_000_001], {41_000_000_000_001: Variant}
    )
    return cart, in_order_id, payload


def test_a_replayed_order_names_only_fields_of_shopifys_orders_create():
    _, _, payload = _tagged_order()
    shopify = examples.example("orders/create")
    assert set(payload) <= set(shopify)
    assert all(set(line) <= set(shopify["line_items"][0]) for line in payload["line_items"])


def test_a_replayed_order_tags_what_the_extension_tags():
    cart, in_order_id, payload = _tagged_order()
    order = order_from_rest(payload)
    assert order["source_name"] == "pos"
    assert (order["location_id"], order["staff_member_id"]) == (cart.location_id, cart.staff_member_id)
    assert order["shown_ids"] == ["REC-ID"]
    tagged = {line["variant_id"]: line for line in order["attributed_lines"]}
    assert set(tagged) == {in_order_id, 41_000_000_000_001}
    assert tagged[41_000_000_000_001]["quantity"] == 1
    assert tagged[41_000_000_000_001]["unit_price"] == Decimal("2.95")
    assert len(order["line_items"]) == len(cart.rows) + 1
    assert order["created_at"] == cart.ordered_at


def test_make_demo_replays_a_labelled_pos_day_and_a_second_run_changes_nothing(app, client, auth_headers):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-serve", "--orders", SLICE])
    assert result.exit_code == 0, result.output
    assert "imported 2,700 orders" in result.output  # the last 300 are held out of training
    summary = next(line for line in result.output.splitlines() if line.startswith("simulated POS day"))
    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.domain == DEMO_SHOP_DOMAIN))
        orders = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(OrderLineItem.order_id))).where(
                OrderLineItem.shop_id == shop.id
            )
        )
        assert orders == 3000  # the held-out orders came back through POST /webhooks
        statuses = db.session.execute(
            sa.select(WebhookDelivery.status, sa.func.count()).group_by(WebhookDelivery.status)
        ).all()
        assert statuses == [("processed", 300)]
        event_ids = db.session.scalars(sa.select(ImpactShown.event_id)).all()
        assert event_ids and all(e.startswith(EVENT_PREFIX) for e in event_ids)
        shop_id = shop.id
    figures, counts = _figures(app, shop_id)
    assert f"{figures['shown']} suggestions shown, {figures['added']} added" in summary
    assert figures["shown"] >= 250 and 0 < figures["added"] < figures["shown"]
    assert figures["simulated_shown"] == figures["shown"]
    assert figures["orders"] > 0 and figures["revenue"] > 0
    assert figures["live_orders"] == figures["shown"] and figures["live_hit_rate"] > 0
    assert {r["key"] for r in figures["by"]["location"]} == set(replay.LOCATIONS)
    assert {r["key"] for r in figures["by"]["staff"]} == set(replay.STAFF_SKILL)
    assert figures["dropped"] == {}
    with app.app_context():
        lift = organic.lift_for_period(shop_id, 7)
    assert lift["pairs"] > 0 and lift["untagged_orders"] == 2700
    assert lift["live_rate"] > lift["organic_rate"] > 0 and lift["lift"] > 1

    response = client.get("/app/impact?days=7", headers=auth_headers(shop))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Figures from a simulated POS day (demo)" in page
    assert "/app/impact/lift?days=7" in page
    lift_page = client.get("/app/impact/lift?days=7", headers=auth_headers(shop)).get_data(as_text=True)
    assert "over what customers bought anyway" in lift_page

    # A second run: the day's orders are redelivered (duplicates), no event is sent again.
    again = runner.invoke(args=["demo", "--no-serve", "--orders", SLICE])
    assert again.exit_code == 0, again.output
    assert "already replayed: 300 orders redelivered (300 acknowledged as duplicates)" in again.output
    figures_again, counts_again = _figures(app, shop_id)
    assert counts_again == counts
    for key in ("shown", "added", "orders", "revenue", "live_orders", "live_hits", "dropped"):
        assert figures_again[key] == figures[key], key
    with app.app_context():
        assert organic.lift_for_period(shop_id, 7) == lift
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EvaluationRun)) == 1

    # --no-replay leaves the day alone (nothing is sent at all).
    quiet = runner.invoke(args=["demo", "--no-serve", "--no-replay", "--orders", SLICE])
    assert quiet.exit_code == 0 and "simulated POS day" not in quiet.output

"""Lift over organic co-purchase on hand-computed figures (posai_app.impact.organic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from posai_app.extensions import db
from posai_app.impact import organic, report
from posai_app.models import ImpactLine, ImpactOrder, ImpactShown, OrderLineItem

SINCE = datetime(2030, 1, 1, tzinfo=UTC)
UNTIL = datetime(2030, 1, 31, tzinfo=UTC)
_line_ids = iter(range(1, 10_000))


def _order(shop_id: int, order_id: int, variants, *, at=SINCE - timedelta(days=100), cancelled=False):
    for variant_id in variants:
        db.session.add(
            OrderLineItem(
                shop_id=shop_id,
                line_item_id=next(_line_ids),
                order_id=order_id,
                created_at=at,
                variant_id=variant_id,
                quantity=1,
                title=f"Item {variant_id}",
                cancelled_at=at if cancelled else None,
            )
        )


def _shown(shop_id: int, rec_id: str, items, *, at=SINCE + timedelta(days=1)):
    db.session.add(
        ImpactShown(
            shop_id=shop_id,
            recommendation_id=rec_id,
            event_id=f"event-{rec_id}",
            metric="cosine",
            model_version=1,
            arm="champion",
            issued_at=at,
            shown_at=at,
            variant_ids=[str(v) for v in items],
        )
    )


def _link(shop_id: int, order_id: int, rec_id: str, *, cancelled=False):
    db.session.add(
        ImpactOrder(
            shop_id=shop_id,
            order_id=order_id,
            recommendation_id=rec_id,
            created_at=SINCE + timedelta(days=1),
            metric="cosine",
            arm="champion",
            hit=True,
            cancelled=cancelled,
        )
    )


def _tag(shop_id: int, order_id: int, rec_id: str, variant_id: int):
    db.session.add(
        ImpactLine(
            shop_id=shop_id,
            line_item_id=next(_line_ids) + 50_000,
            order_id=order_id,
            created_at=SINCE + timedelta(days=1),
            recommendation_id=rec_id,
            metric="cosine",
            model_version=1,
            arm="champion",
            variant_id=variant_id,
            quantity=1,
            current_quantity=1,
            revenue=Decimal("4.00"),
        )
    )


def _history(shop_id: int) -> None:
    """Untagged: n(1) = 3 (U1-U3), co(1,2) = 1, co(1,3) = 1; n(4) = 2, co(4,2) = 1, co(4,3) = 0."""
    _order(shop_id, 101, [1, 2])
    _order(shop_id, 102, [1, 3])
    _order(shop_id, 103, [1])
    _order(shop_id, 104, [1, 2], cancelled=True)  # cancelled: not a purchase
    _order(shop_id, 105, [4, 2])
    _order(shop_id, 106, [4])
    _order(shop_id, 107, [1, 2], at=UNTIL + timedelta(days=1))  # after the period: not yet known
    # r1 showed 2 and 3 on a cart of 1 and 4; the cashier added 2 (tagged): anchors 1 and 4.
    _order(shop_id, 201, [1, 4, 2], at=SINCE + timedelta(days=1))
    _shown(shop_id, "r1", [2, 3])
    _link(shop_id, 201, "r1")
    _tag(shop_id, 201, "r1", 2)
    # r2 showed 3, bought untapped, on a cart of 6, which no untagged order holds: no baseline.
    _order(shop_id, 202, [6, 3], at=SINCE + timedelta(days=1))
    _shown(shop_id, "r2", [3])
    _link(shop_id, 202, "r2")
    # r3's order was cancelled; r4 was shown before the period.
    _order(shop_id, 203, [1, 2], at=SINCE + timedelta(days=1), cancelled=True)
    _shown(shop_id, "r3", [2])
    _link(shop_id, 203, "r3", cancelled=True)
    _order(shop_id, 204, [1, 3], at=SINCE - timedelta(days=3))
    _shown(shop_id, "r4", [3], at=SINCE - timedelta(days=3))
    _link(shop_id, 204, "r4")


def test_lift_over_organic_on_hand_computed_figures(app, shop, other_shop):
    with app.app_context():
        _history(shop.id)
        # Another shop's orders, all holding 1 and 2, must change nothing of ours.
        for order_id in range(301, 306):
            _order(other_shop.id, order_id, [1, 2])
        _shown(other_shop.id, "r1", [2, 3])
        _link(other_shop.id, 301, "r1")
        db.session.commit()
        figures = organic.organic_lift(shop.id, SINCE, UNTIL)
    # Pairs of r1: (1→2) bought, organic 1/3; (1→3) not, 1/3; (4→2) bought, 1/2; (4→3) not, 0/2.
    assert figures["pairs"] == 4
    assert figures["recommendations"] == 1
    assert figures["live_rate"] == pytest.approx(2 / 4)
    assert figures["organic_rate"] == pytest.approx((1 / 3 + 1 / 3 + 1 / 2 + 0) / 4)  # 7/24
    assert figures["lift"] == pytest.approx(0.5 / (7 / 24))  # 12/7 ≈ 1.71
    # 101, 102, 103, 105, 106 (not 104: cancelled; 107: later; 201-204: POSAI's).
    assert figures["untagged_orders"] == 5


def test_no_pairs_and_no_baseline_give_no_lift(app, shop):
    with app.app_context():
        assert organic.organic_lift(shop.id, SINCE, UNTIL) == {
            "pairs": 0,
            "recommendations": 0,
            "untagged_orders": 0,
            "live_rate": None,
            "organic_rate": None,
            "lift": None,
        }
        # Shown and bought, but customers never bought 2 with 1 without POSAI: organic 0, no lift.
        _order(shop.id, 101, [1])
        _order(shop.id, 201, [1, 2], at=SINCE + timedelta(days=1))
        _shown(shop.id, "r1", [2])
        _link(shop.id, 201, "r1")
        db.session.commit()
        figures = organic.organic_lift(shop.id, SINCE, UNTIL)
    assert (figures["pairs"], figures["live_rate"], figures["organic_rate"], figures["lift"]) == (
        1,
        1.0,
        0.0,
        None,
    )


def test_the_impact_section_shows_the_lift(app, client, shop, auth_headers):
    with app.app_context():
        now = datetime.now(UTC)
        for order_id, items in ((101, [1, 2]), (102, [1]), (103, [1]), (104, [1])):
            _order(shop.id, order_id, items, at=now - timedelta(days=30))
        _order(shop.id, 201, [1, 2], at=now - timedelta(hours=2))
        _shown(shop.id, "r1", [2], at=now - timedelta(hours=2))
        _link(shop.id, 201, "r1")
        db.session.commit()
        assert organic.lift_for_period(shop.id, 7)["lift"] == pytest.approx(4.0)  # 1/1 over 1/4
        assert report.impact_report(shop.id, 7)["simulated_shown"] == 0
    response = client.get("/app/impact?days=7", headers=auth_headers(shop))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'hx-get="/app/impact/lift?days=7"' in page  # loaded after the figures: it takes longer
    assert "impact-simulated" not in page  # a real shop's POS never sends the replay's event ids
    lift = client.get("/app/impact/lift?days=7", headers=auth_headers(shop))
    assert lift.status_code == 200
    assert "Lift ×4.0</strong> over what customers bought anyway" in lift.get_data(as_text=True)


def test_the_lift_is_the_calling_shops_only(app, client, shop, other_shop, auth_headers):
    with app.app_context():
        now = datetime.now(UTC)
        _order(other_shop.id, 101, [1, 2], at=now - timedelta(days=30))
        _order(other_shop.id, 201, [1, 2], at=now - timedelta(hours=2))
        _shown(other_shop.id, "r1", [2], at=now - timedelta(hours=2))
        _link(other_shop.id, 201, "r1")
        db.session.commit()
    ours = client.get("/app/impact/lift?days=7", headers=auth_headers(shop)).get_data(as_text=True)
    theirs = client.get("/app/impact/lift?days=7", headers=auth_headers(other_shop)).get_data(as_text=True)
    assert "Lift" not in ours and "Lift ×1.0" in theirs

"""End to end through the real endpoints: answer → shown → added (tagged) → orders/create → the
admin's Impact figures and CSV; a resent batch and a redelivered order change nothing."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from posai_app.admin.charts import daily_impact_chart
from posai_app.impact import report
from posai_app.webhooks import handlers
from tests.helpers import TEST_API_SECRET
from tests.impact.conftest import added, shown
from tests.webhooks import examples


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _order(order_id: int, tagged: dict, shown_ids: list[str], *, updated_at: str, kept: int = 2) -> dict:
    stamp = _now()
    price_set = {
        "shop_money": {"amount": "4.50", "currency_code": "GBP"},
        "presentment_money": {"amount": "4.50", "currency_code": "GBP"},
    }
    payload = examples.order(
        "orders/create",
        order_id,
        [
            {"id": order_id * 10 + 1, "variant_id": 1003, "product_id": 3, "quantity": 1, "price": "8.00"},
            {
                "id": order_id * 10 + 2,
                "variant_id": int(tagged["variantId"]),
                "product_id": int(tagged["productId"]),
                "title": tagged["productTitle"],
                "quantity": 2,
                "current_quantity": kept,
                "price": "4.50",
                "price_set": price_set,
                "attributed_staffs": [],
                "properties": [{"name": "_posai", "value": tagged["recommendationId"]}],
                "discount_allocations": [
                    {
                        "amount": "1.00",
                        "amount_set": {"shop_money": {"amount": "1.00", "currency_code": "GBP"}},
                    }
                ],
            },
        ],
        name=f"#{order_id}",
        created_at=stamp,
        updated_at=updated_at,
    )
    payload.update(location_id=3, user_id=55, source_name="pos")
    payload["note_attributes"] = [{"name": "_posai_shown", "value": " ".join(shown_ids)}]
    return payload


@pytest.fixture
def deliver(client, fake, run_jobs):
    """deliver(shop, topic, payload, webhook_id): a signed webhook, applied (RQ drained)."""

    def _deliver(shop, topic, payload, webhook_id):
        body, headers = fake.webhook(topic, shop.domain, payload, TEST_API_SECRET, webhook_id=webhook_id)
        assert client.post("/webhooks", data=body, headers=headers).status_code == 200
        run_jobs()

    return _deliver


def _figures(app, shop, days=30):
    with app.app_context():
        return report.impact_report(shop.id, days)


def test_from_suggestion_to_paid_order_to_the_admins_figures(
    deliver, app, client, fake, small_shop, other_shop, recommend, send_events, auth_headers
):
    first, second = recommend(small_shop, ["1003"]), recommend(small_shop, ["1010"])
    tapped = {**first["recommendations"][0], "recommendationId": first["recommendationId"]}
    batch = [shown(first), shown(second), added(first, tapped["variantId"])]
    assert send_events(small_shop, batch).get_json()["accepted"] == 3
    order = _order(501, tapped, [first["recommendationId"], second["recommendationId"]], updated_at=_now())
    deliver(small_shop, "orders/create", order, "wh-1")

    figures = _figures(app, small_shop)
    in_order = {1003, int(tapped["variantId"])}
    second_hit = bool({int(r["variantId"]) for r in second["recommendations"]} & in_order)
    expected = {
        "shown": 2,
        "added": 1,
        "attach_rate": 0.5,
        "orders": 1,
        "revenue": Decimal("8.00"),  # 4.50 × 2 − 1.00
        "revenue_per_100": Decimal("400.00"),  # 8.00 per 2 shown
        "live_orders": 2,
        "live_hits": 1 + second_hit,
    }
    assert {k: figures[k] for k in expected} == expected
    [scorer] = figures["by"]["scorer"]
    assert (scorer["key"], scorer["shown"], scorer["added"], scorer["orders"], scorer["revenue"]) == (
        "cosine",
        2,
        1,
        1,
        Decimal("8.00"),
    )
    assert scorer["live_hit_rate"] == (1 + second_hit) / 2
    assert [(r["key"], r["shown"], r["orders"]) for r in figures["by"]["staff"]] == [(55, 2, 1)]
    assert [(r["key"], r["revenue"]) for r in figures["by"]["location"]] == [(3, Decimal("8.00"))]
    assert sum(d["shown"] for d in figures["daily"]) == 2 and len(figures["daily"]) == 31

    # The POS resends its batch, Shopify redelivers the order: nothing moves.
    assert send_events(small_shop, batch).get_json()["duplicates"] == 3
    deliver(small_shop, "orders/create", order, "wh-2")
    again = _figures(app, small_shop)
    assert {k: again[k] for k in expected} == expected
    assert again["dropped"] == {"duplicate": 3}

    # A refund of one unit subtracts its share: 4.50 − 0.50.
    refunded = _order(501, tapped, [first["recommendationId"]], updated_at="2099-01-01T00:00:00Z", kept=1)
    deliver(small_shop, "orders/updated", refunded, "wh-3")
    assert _figures(app, small_shop)["revenue"] == Decimal("4.00")

    # The admin presents the same figures; the CSV lists the line; the other shop sees nothing.
    page = client.get("/app/impact?days=7", headers=auth_headers(small_shop))
    assert page.status_code == 200
    html = page.get_data(True)
    assert 'id="impact-figures"' in html and "4.00" in html and "Staff #55" in html and "<svg" in html
    export = client.get("/app/impact.csv?days=90", headers=auth_headers(small_shop))
    assert export.mimetype == "text/csv" and "attachment" in export.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(export.get_data(True))))
    assert [(r["order_id"], r["revenue"], r["current_quantity"], r["staff_member_id"]) for r in rows] == [
        ("501", "4.00", "1", "55")
    ]
    assert client.get("/app/impact.csv").status_code == 401
    theirs = client.get("/app/impact", headers=auth_headers(other_shop)).get_data(True)
    assert 'id="impact-empty"' in theirs
    assert _figures(app, other_shop)["shown"] == 0


def test_periods_and_an_empty_shop(app, shop):
    assert [report.period_days(v) for v in ("7", 90, "365", None, "x")] == [7, 90, 30, 30, 30]
    figures = _figures(app, shop, 7)
    assert (
        figures["shown"],
        figures["attach_rate"],
        figures["live_hit_rate"],
        figures["revenue_per_100"],
    ) == (
        0,
        None,
        None,
        None,
    )
    assert daily_impact_chart(figures["daily"]) == ""


def test_csv_cells_cannot_become_spreadsheet_formulas():
    assert report._cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert report._cell("Mug") == "Mug"

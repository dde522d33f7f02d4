"""Settings: validated server-side, errors inline (422 fragment), stored per shop, honoured by the API."""

from __future__ import annotations

import re

import pytest

from posai_app.extensions import db
from posai_app.models import Shop
from tests.admin import shopdata

VALID = {"recommendation_limit": "4", "bestseller_fallback": "1", "retrain_interval_minutes": "120"}


def _settings(app, shop_id: int) -> dict:
    with app.app_context():
        return dict(db.session.get(Shop, shop_id).settings or {})


def test_valid_settings_are_saved_and_announced(app, client, shop, hx):
    response = client.post("/app/settings", data=VALID, headers=hx(shop))
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "settings-changed"
    assert "Settings saved." in response.get_data(as_text=True)
    stored = _settings(app, shop.id)
    assert stored["recommendation_limit"] == 4
    assert stored["bestseller_fallback"] is True
    assert stored["retrain_interval_minutes"] == 120


def test_unchecked_fallback_turns_it_off(app, client, shop, hx):
    data = {k: v for k, v in VALID.items() if k != "bestseller_fallback"}
    assert client.post("/app/settings", data=data, headers=hx(shop)).status_code == 200
    assert _settings(app, shop.id)["bestseller_fallback"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("recommendation_limit", "0", "between 1 and 10"),
        ("recommendation_limit", "11", "between 1 and 10"),
        ("recommendation_limit", "two", "whole number"),
        ("recommendation_limit", "", "is required"),
        ("recommendation_limit", "2.5", "whole number"),
        ("retrain_interval_minutes", "5", "between 15 and 10080"),
        ("retrain_interval_minutes", "99999999999999999999", "between 15 and 10080"),
        ("bestseller_fallback", "maybe", "on or off"),
    ],
)
def test_invalid_settings_are_refused_inline_and_not_stored(app, client, shop, hx, field, value, message):
    response = client.post("/app/settings", data={**VALID, field: value}, headers=hx(shop))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="settings-form"' in html
    assert message in html
    # The message is the Polaris field's `error` (it sets aria-invalid on its own control).
    assert re.search(rf'id="{field}"[^>]*error="[^"]*{re.escape(message)}', html)
    assert "data-has-errors" in html.split(">", 1)[0]
    assert "HX-Trigger" not in response.headers
    assert _settings(app, shop.id) == {}


def test_settings_of_one_shop_do_not_touch_another(app, client, shop, other_shop, hx):
    client.post("/app/settings", data=VALID, headers=hx(shop))
    assert _settings(app, other_shop.id) == {}


def test_exclusions_are_added_and_removed(app, client, stocked_shop, hx):
    headers = hx(stocked_shop)
    response = client.post("/app/settings/exclusions", data={"product_id": "202"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "settings-changed"
    assert "White metal lantern" in response.get_data(as_text=True)
    # adding twice keeps one entry
    client.post("/app/settings/exclusions", data={"product_id": "202"}, headers=headers)
    client.post("/app/settings/exclusions", data={"product_id": "gid://shopify/Product/205"}, headers=headers)
    assert _settings(app, stocked_shop.id)["excluded_product_ids"] == [202, 205]
    response = client.post("/app/settings/exclusions/remove", data={"product_id": "202"}, headers=headers)
    assert response.status_code == 200
    assert _settings(app, stocked_shop.id)["excluded_product_ids"] == [205]
    html = client.get("/app", headers=headers).get_data(as_text=True)
    excluded = html.split('id="excluded-list"', 1)[1].split("</s-table-body>", 1)[0]
    assert "Set of 3 cake tins" in excluded and "White metal lantern" not in excluded


@pytest.mark.parametrize("value", ["abc", "", "-3", "99999999999999999999999"])
def test_bad_exclusion_ids_are_422(client, stocked_shop, hx, value):
    response = client.post("/app/settings/exclusions", data={"product_id": value}, headers=hx(stocked_shop))
    assert response.status_code == 422


def test_another_shops_product_cannot_be_excluded(app, client, stocked_shop, other_shop, hx):
    with app.app_context():
        shopdata.add_catalog(other_shop.id, id_offset=50000)
        db.session.commit()
    response = client.post("/app/settings/exclusions", data={"product_id": "50202"}, headers=hx(stocked_shop))
    assert response.status_code == 422
    assert "not in this shop" in response.get_data(as_text=True)
    assert "excluded_product_ids" not in _settings(app, stocked_shop.id)


def test_settings_are_honoured_by_the_api_immediately(app, client, reported_shop, hx, auth_headers):
    cart = {"cartVariantIds": ["2001"]}
    before = client.post("/api/recommendations", json=cart, headers=auth_headers(reported_shop)).json
    assert len(before["recommendations"]) == 2
    first = before["recommendations"][0]
    client.post("/app/settings", data={**VALID, "recommendation_limit": "1"}, headers=hx(reported_shop))
    client.post(
        "/app/settings/exclusions", data={"product_id": first["productId"]}, headers=hx(reported_shop)
    )
    after = client.post("/api/recommendations", json=cart, headers=auth_headers(reported_shop)).json
    assert len(after["recommendations"]) == 1
    assert after["recommendations"][0]["productId"] != first["productId"]

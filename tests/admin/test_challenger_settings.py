"""The champion–challenger settings: off by default, validated (422 inline), stored per shop."""

from __future__ import annotations

import pytest

from posai_app.extensions import db
from posai_app.models import Shop
from posai_app.shops import settings as shop_settings
from tests.admin.test_settings import VALID


def _settings(app, shop_id: int) -> dict:
    with app.app_context():
        return dict(db.session.get(Shop, shop_id).settings or {})


def test_the_test_is_off_by_default_and_the_form_offers_the_shares(app, client, shop, hx):
    with app.app_context():
        current = shop_settings.current_settings(shop.id)
    assert (current["challenger_share"], current["challenger_auto_switch"]) == (0, False)
    html = client.get("/app/settings", headers=hx(shop)).get_data(as_text=True)
    assert 'name="challenger_share"' in html and 'name="challenger_auto_switch"' in html
    assert '<s-option value="0" selected>Off</s-option>' in html
    assert '<s-option value="20">20 %</s-option>' in html


def test_a_share_and_the_automatic_switch_are_saved_for_that_shop_only(app, client, shop, other_shop, hx):
    data = {**VALID, "challenger_share": "10", "challenger_auto_switch": "1"}
    assert client.post("/app/settings", data=data, headers=hx(shop)).status_code == 200
    stored = _settings(app, shop.id)
    assert (stored["challenger_share"], stored["challenger_auto_switch"]) == (10, True)
    assert "challenger_share" not in _settings(app, other_shop.id)
    # Unchecking the box turns the automatic switch off; the share stays as sent.
    data = {**VALID, "challenger_share": "10"}
    assert client.post("/app/settings", data=data, headers=hx(shop)).status_code == 200
    assert _settings(app, shop.id)["challenger_auto_switch"] is False
    # A form without the champion–challenger fields leaves both as they are.
    client.post(
        "/app/settings",
        data={**VALID, "challenger_share": "20", "challenger_auto_switch": "1"},
        headers=hx(shop),
    )
    assert client.post("/app/settings", data=VALID, headers=hx(shop)).status_code == 200
    stored = _settings(app, shop.id)
    assert (stored["challenger_share"], stored["challenger_auto_switch"]) == (20, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("challenger_share", "51", "between 0 and 50"),
        ("challenger_share", "-5", "between 0 and 50"),
        ("challenger_share", "ten", "whole number"),
        ("challenger_share", "", "is required"),
        ("challenger_share", "12.5", "whole number"),
        ("challenger_auto_switch", "maybe", "on or off"),
    ],
)
def test_invalid_challenger_settings_are_refused_inline_and_not_stored(
    app, client, shop, hx, field, value, message
):
    data = {**VALID, "challenger_share": "10", "challenger_auto_switch": "1", field: value}
    response = client.post("/app/settings", data=data, headers=hx(shop))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="settings-form"' in html and message in html
    assert "HX-Trigger" not in response.headers
    assert _settings(app, shop.id) == {}


def test_invalid_challenger_settings_are_a_422_json_error_for_json_clients(app, client, shop, auth_headers):
    response = client.post(
        "/app/settings",
        data={**VALID, "challenger_share": "80"},
        headers={**auth_headers(shop), "Accept": "application/json"},
    )
    assert response.status_code == 422

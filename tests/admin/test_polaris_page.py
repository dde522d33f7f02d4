"""The admin page in Shopify's App Home conventions, as the server renders it.

Polaris web components for the shell, sections, tables, buttons and fields; App Bridge's nav and
the save bar form (`data-save-bar`). The browser test drives the same markup in Chromium.
"""

from __future__ import annotations

import re

from posai_app.extensions import db
from posai_app.models import Shop
from tests.helpers import make_session_token


def _page(client, app, shop) -> str:
    token = make_session_token(app.config, shop.domain)
    response = client.get(f"/app?shop={shop.domain}&id_token={token}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_embedded_page_has_the_app_home_shell(app, client, reported_shop):
    html = _page(client, app, reported_shop)
    assert '<s-page heading="POSAI upsell recommendations">' in html
    nav = html.split("<s-app-nav>", 1)[1].split("</s-app-nav>", 1)[0]
    assert re.findall(r'<s-link href="([^"]+)"( rel="home")?>', nav) == [
        ("/app", ' rel="home"'),
        ("/app#pins-card", ""),
        ("/app#settings-card", ""),
    ]
    for card in ("report-card", "pairs-card", "preview-card", "pins-card", "summary-card", "settings-card"):
        assert f'<s-section class="card" id="{card}"' in html, card
    # The Impact card is left as it is (its own work changes it).
    assert '<section class="card" id="impact-card"' in html


def test_settings_form_is_a_save_bar_form_of_polaris_fields(app, client, reported_shop):
    with app.app_context():
        stored = {"recommendation_limit": 4, "bestseller_fallback": False}
        db.session.get(Shop, reported_shop.id).settings = stored
        db.session.commit()
    html = _page(client, app, reported_shop)
    form = html.split('<form id="settings-form"', 1)[1].split("</form>", 1)[0]
    assert "data-save-bar" in form and 'data-reload-url="/app/settings"' in form
    assert "data-has-errors" not in form
    limit = re.search(r'<s-number-field id="recommendation_limit"[^>]*>', form).group(0)
    assert 'name="recommendation_limit"' in limit and 'value="4"' in limit
    assert 'label="Number of recommendations"' in limit and 'min="1" max="10"' in limit
    checkbox = re.search(r"<s-checkbox [^>]*>", form).group(0)
    assert 'name="bestseller_fallback"' in checkbox and " checked" not in checkbox
    assert "<button" not in form  # the save bar saves; no button of its own


def test_a_refused_save_marks_the_form_and_its_fields(client, reported_shop, hx):
    data = {"recommendation_limit": "42", "retrain_interval_minutes": "5", "bestseller_fallback": "1"}
    response = client.post("/app/settings", data=data, headers=hx(reported_shop))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "data-has-errors" in html.split(">", 1)[0]
    limit = re.search(r'<s-number-field id="recommendation_limit"[^>]*>', html).group(0)
    assert 'value="42"' in limit and re.search(r'error="[^"]*between 1 and 10', limit)
    interval = re.search(r'<s-number-field id="retrain_interval_minutes"[^>]*>', html).group(0)
    assert 'error="' in interval
    # Discard after a refusal fetches the saved values again: they are still the defaults.
    saved = client.get("/app/settings", headers=hx(reported_shop)).get_data(as_text=True)
    assert 'value="2"' in re.search(r'<s-number-field id="recommendation_limit"[^>]*>', saved).group(0)
    assert "data-has-errors" not in saved


def test_a_save_answers_with_a_toast_message(client, reported_shop, hx):
    data = {"recommendation_limit": "3", "retrain_interval_minutes": "60"}
    html = client.post("/app/settings", data=data, headers=hx(reported_shop)).get_data(as_text=True)
    assert re.search(r'<p class="banner banner--success" role="status" data-toast>Settings saved\.</p>', html)


def test_pins_and_exclusions_are_polaris_tables_with_named_buttons(client, stocked_shop, hx):
    headers = hx(stocked_shop)
    client.post("/app/pins", data={"product_id": "201", "pinned_product_id": "202"}, headers=headers)
    client.post("/app/settings/exclusions", data={"product_id": "205"}, headers=headers)
    exclusions = client.post(
        "/app/settings/exclusions/values", data={"field": "vendor", "value": "Acme"}, headers=headers
    ).get_data(as_text=True)
    assert '<s-table id="excluded-table"' in exclusions and "data-toast" in exclusions
    rows = re.findall(r'<s-table-row data-kind="(\w+)">\s*<s-table-cell>([^<]+)</s-table-cell>', exclusions)
    assert rows == [("product", "Set of 3 cake tins"), ("vendor", "Acme")]
    assert 'accessibilityLabel="Stop excluding vendor Acme"' in exclusions
    assert 'hx-vals=\'{"product_id": "205"}\'' in exclusions
    page = client.get("/app", headers=headers).get_data(as_text=True)
    pins = page.split('<s-table id="pins-table"', 1)[1].split("</s-table>", 1)[0]
    assert 'data-product-id="201"' in pins and "White metal lantern" in pins
    assert re.search(r'<s-button variant="tertiary" hx-post="/app/pins/remove"', pins)
    assert '"pinned_product_id": "202"' in pins
    results = client.get("/app/products?purpose=pin_target&product_id=201&q=lantern", headers=headers)
    assert 'accessibilityLabel="Suggest White metal lantern first"' in results.get_data(as_text=True)


def test_demo_page_loads_nothing_from_shopify(make_app, app):
    from posai_app.admin.demo import DEMO_SHOP_DOMAIN
    from tests.conftest import _add_shop

    demo = make_app(POSAI_DEMO=True)
    _add_shop(app, DEMO_SHOP_DOMAIN)
    html = demo.test_client().get("/app").get_data(as_text=True)
    assert "<s-page" in html and "cdn.shopify.com" not in html and "<s-app-nav>" not in html

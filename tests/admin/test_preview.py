"""The preview: what the POS would get, from the same function as POST /api/recommendations."""

from __future__ import annotations

import re

from posai_app.extensions import db
from tests.admin import shopdata


def _titles(html: str, list_id: str) -> list[str]:
    block = html.split(f'id="{list_id}"', 1)[1].split("</ol>", 1)[0].split("</ul>", 1)[0]
    return re.findall(r"<strong>([^<]+)</strong>", block)


def test_preview_matches_the_api_exactly(client, reported_shop, hx, auth_headers):
    api = client.post(
        "/api/recommendations", json={"cartVariantIds": ["2001", "2005"]}, headers=auth_headers(reported_shop)
    ).json
    response = client.post("/app/preview", data={"variant_id": ["2001", "2005"]}, headers=hx(reported_shop))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert _titles(html, "preview-results") == [r["productTitle"] for r in api["recommendations"]]
    assert f"(method: {api['metric']})" in html


def test_adding_and_removing_cart_items(client, reported_shop, hx):
    html = client.post("/app/preview", data={"add": "2001"}, headers=hx(reported_shop)).get_data(as_text=True)
    assert 'name="variant_id" value="2001"' in html
    html = client.post(
        "/app/preview", data={"variant_id": "2001", "add": "2007"}, headers=hx(reported_shop)
    ).get_data(as_text=True)
    assert 'value="2001"' in html and 'value="2007"' in html
    html = client.post(
        "/app/preview", data={"variant_id": ["2001", "2007"], "remove": "2001"}, headers=hx(reported_shop)
    ).get_data(as_text=True)
    assert 'name="variant_id" value="2001"' not in html and 'value="2007"' in html
    html = client.post("/app/preview", data={}, headers=hx(reported_shop)).get_data(as_text=True)
    assert 'id="preview-cart-empty"' in html


def test_why_skipped_names_the_reasons(app, client, reported_shop, hx):
    client.post("/app/settings/exclusions", data={"product_id": "202"}, headers=hx(reported_shop))
    data = {"variant_id": ["2001"], "explain": "1"}
    html = client.post("/app/preview", data=data, headers=hx(reported_shop)).get_data(as_text=True)
    skipped = html.split('id="preview-skipped"', 1)[1].split("</ul>", 1)[0]
    assert "White metal lantern</strong>: Excluded in your settings" in skipped
    assert "Red woolly hottie heart</strong>: Out of stock" in skipped
    # without "explain" the skipped list is not shown
    html = client.post("/app/preview", data={"variant_id": "2001"}, headers=hx(reported_shop)).get_data(
        as_text=True
    )
    assert "preview-skipped" not in html


def test_other_shops_variants_are_ignored(app, client, reported_shop, other_shop, hx):
    with app.app_context():
        shopdata.add_catalog(other_shop.id, title_prefix="SECRET ", id_offset=50000)
        db.session.commit()
    html = client.post("/app/preview", data={"variant_id": "52001"}, headers=hx(reported_shop)).get_data(
        as_text=True
    )
    assert "SECRET" not in html and 'id="preview-cart-empty"' in html


def test_bad_preview_ids_are_422(client, reported_shop, hx):
    response = client.post("/app/preview", data={"variant_id": "not-a-number"}, headers=hx(reported_shop))
    assert response.status_code == 422
    too_many = [str(i) for i in range(1, 150)]
    assert (
        client.post("/app/preview", data={"variant_id": too_many}, headers=hx(reported_shop)).status_code
        == 422
    )

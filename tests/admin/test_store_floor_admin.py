"""Issue 18 on the admin page and in the settings rules: pins, exclusions by type/vendor/tag,
and reasons whose counts are the shop's real order counts."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from posai_app.errors import ValidationFailed
from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductPin
from posai_app.shops import settings
from tests.admin import shopdata


def _orders_with_both(shop_id: int, a: int, b: int) -> int:
    """Orders (not cancelled) holding both variants, counted from the stored line items."""
    lines = sa.select(OrderLineItem.order_id).where(
        OrderLineItem.shop_id == shop_id, OrderLineItem.cancelled_at.is_(None)
    )
    with_a = lines.where(OrderLineItem.variant_id == a)
    with_b = lines.where(OrderLineItem.variant_id == b)
    return db.session.scalar(sa.select(sa.func.count()).select_from(with_a.intersect(with_b).subquery()))


def test_every_reason_count_is_the_shops_real_count(app, client, trained_shop, auth_headers):
    checked = 0
    for cart in ([vid] for vid in shopdata.CATALOG):
        response = client.post(
            "/api/recommendations",
            json={"cartVariantIds": cart, "limit": 5},
            headers=auth_headers(trained_shop),
        )
        for item in response.json["recommendations"]:
            if item["source"] != "model":
                continue
            assert item["reason"].startswith("Bought with "), item
            count = int(item["reason"].rsplit(" in ", 1)[1].split()[0])
            with app.app_context():
                assert count == _orders_with_both(trained_shop.id, cart[0], int(item["variantId"])), item
                title = shopdata.CATALOG[cart[0]][1]
            assert item["reason"].startswith(f"Bought with {title} in ")
            checked += 1
    assert checked >= 5


def test_pin_rules(app, stocked_shop):
    products = sorted({pid for pid, *_ in shopdata.CATALOG.values()})
    source, others = products[0], products[1:]
    with app.app_context():
        with pytest.raises(ValidationFailed, match="itself"):
            settings.add_pin(stocked_shop.id, source, source)
        with pytest.raises(ValidationFailed, match="not in this shop"):
            settings.add_pin(stocked_shop.id, source, 987654321)
        for pinned in others[: settings.MAX_PINS_PER_PRODUCT]:
            settings.add_pin(stocked_shop.id, source, pinned)
        assert settings.add_pin(stocked_shop.id, source, others[0]) == others[: settings.MAX_PINS_PER_PRODUCT]
        if len(others) > settings.MAX_PINS_PER_PRODUCT:
            with pytest.raises(ValidationFailed, match="At most"):
                settings.add_pin(stocked_shop.id, source, others[settings.MAX_PINS_PER_PRODUCT])
        settings.remove_pin(stocked_shop.id, source, others[0])
        db.session.commit()
        kept = db.session.scalars(sa.select(ProductPin.pinned_product_id).order_by(ProductPin.position)).all()
    assert kept == others[1 : settings.MAX_PINS_PER_PRODUCT]


def test_exclusion_value_rules(app, stocked_shop):
    with app.app_context():
        assert settings.add_excluded_value(stocked_shop.id, "vendor", "  Acme   Co ") == ["Acme Co"]
        assert settings.add_excluded_value(stocked_shop.id, "vendor", "ACME CO") == ["Acme Co"]  # case-blind
        with pytest.raises(ValidationFailed):
            settings.add_excluded_value(stocked_shop.id, "colour", "red")
        with pytest.raises(ValidationFailed):
            settings.add_excluded_value(stocked_shop.id, "tag", "a, b")
        with pytest.raises(ValidationFailed):
            settings.add_excluded_value(stocked_shop.id, "product_type", "   ")
        assert settings.remove_excluded_value(stocked_shop.id, "vendor", "acme co") == []


def test_the_admin_page_pins_and_excludes(app, client, stocked_shop, hx):
    products = sorted({pid for pid, *_ in shopdata.CATALOG.values()})
    page = client.get("/app", headers=hx(stocked_shop)).get_data(as_text=True)
    assert "Pairings you set" in page and "Import from Search &amp; Discovery" in page
    picked = client.get(f"/app/pins?product_id={products[0]}", headers=hx(stocked_shop))
    assert picked.status_code == 200 and 'id="pin-target-search"' in picked.get_data(as_text=True)
    search = client.get(
        f"/app/products?purpose=pin_target&product_id={products[0]}&q=", headers=hx(stocked_shop)
    )
    assert search.status_code == 200
    added = client.post(
        "/app/pins",
        data={"product_id": products[0], "pinned_product_id": products[1]},
        headers=hx(stocked_shop),
    )
    assert added.status_code == 200 and "Pairing saved" in added.get_data(as_text=True)
    refused = client.post(
        "/app/pins",
        data={"product_id": products[0], "pinned_product_id": products[0]},
        headers=hx(stocked_shop),
    )
    assert refused.status_code == 422
    removed = client.post(
        "/app/pins/remove",
        data={"product_id": products[0], "pinned_product_id": products[1]},
        headers=hx(stocked_shop),
    )
    assert removed.status_code == 200 and "No pairings yet" in removed.get_data(as_text=True)
    excluded = client.post(
        "/app/settings/exclusions/values",
        data={"field": "tag", "value": "clearance"},
        headers=hx(stocked_shop),
    )
    assert excluded.status_code == 200
    assert re.search(
        r'<s-table-row data-kind="tag">\s*'
        r"<s-table-cell>clearance</s-table-cell>\s*<s-table-cell>Tag</s-table-cell>",
        excluded.get_data(as_text=True),
    )
    bad = client.post(
        "/app/settings/exclusions/values", data={"field": "x", "value": "y"}, headers=hx(stocked_shop)
    )
    assert bad.status_code == 422
    back = client.post(
        "/app/settings/exclusions/values/remove",
        data={"field": "tag", "value": "clearance"},
        headers=hx(stocked_shop),
    )
    assert back.status_code == 200 and "Tag: clearance" not in back.get_data(as_text=True)

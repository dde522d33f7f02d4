"""Issue 18 on the request path: stock at the POS location, the merchant's pins, exclusions by
product type/vendor/tag, and a localised reason for every recommendation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from posai_app.api import reasons
from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.ingest import inventory
from posai_app.models import ProductVariant
from posai_app.shops import settings
from tests.api.test_request_caches import commit_in, counting_statements

URL = "/api/recommendations"
STORE_A, STORE_B, ELSEWHERE = 71_000_000_001, 71_000_000_002, 71_000_000_999


def post(client, headers, body):
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json["recommendations"]


def ids(items):
    return [r["variantId"] for r in items]


def _items(shop_id: int) -> None:
    """Inventory item 8000 + variant id for every variant of the small shop."""
    db.session.execute(
        sa.update(ProductVariant)
        .where(ProductVariant.shop_id == shop_id)
        .values(inventory_item_id=ProductVariant.variant_id + 8000)
    )
    touch(shop_id, "catalog")


@pytest.fixture
def located_shop(app, small_shop):
    """Tea towel (1003) sold out at store A, 4 left at store B; the coaster (1002) in stock at both."""
    with app.app_context():
        _items(small_shop.id)
        inventory.store_levels(
            small_shop.id,
            [
                {"inventory_item_id": 9003, "location_id": STORE_A, "available": 0},
                {"inventory_item_id": 9003, "location_id": STORE_B, "available": 4},
                {"inventory_item_id": 9002, "location_id": STORE_A, "available": 2},
                {"inventory_item_id": 9002, "location_id": STORE_B, "available": 1},
            ],
        )
        db.session.commit()
    return small_shop


def test_out_of_stock_at_a_but_in_stock_at_b_is_offered_at_b_only(client, located_shop, auth_headers):
    headers = auth_headers(located_shop)
    at_a = post(client, headers, {"cartVariantIds": ["1002"], "limit": 3, "locationId": str(STORE_A)})
    at_b = post(
        client,
        headers,
        {"cartVariantIds": ["1002"], "limit": 3, "locationId": f"gid://shopify/Location/{STORE_B}"},
    )
    assert "1003" not in ids(at_a)
    assert ids(at_b)[0] == "1003"


def test_unknown_or_no_location_keeps_the_shop_wide_rule(client, located_shop, auth_headers):
    headers = auth_headers(located_shop)
    shop_wide = post(client, headers, {"cartVariantIds": ["1002"], "limit": 3})
    assert ids(shop_wide)[0] == "1003"  # 9 in stock shop-wide
    unknown = post(client, headers, {"cartVariantIds": ["1002"], "limit": 3, "locationId": ELSEWHERE})
    assert ids(unknown) == ids(shop_wide)
    null = post(client, headers, {"cartVariantIds": ["1002"], "limit": 3, "locationId": None})
    assert ids(null) == ids(shop_wide)


def test_a_variant_without_known_levels_follows_the_shop_wide_rule_at_a_known_location(
    client, located_shop, auth_headers
):
    # 1001 (mug, 5 shop-wide) has no level rows: offered at store A, as the shop-wide rule says.
    items = post(
        client, auth_headers(located_shop), {"cartVariantIds": ["1002"], "limit": 3, "locationId": STORE_A}
    )
    assert "1001" in ids(items)


@pytest.mark.parametrize("bad", ["gid://shopify/ProductVariant/1", "abc", -1, True, [1]])
def test_a_malformed_location_is_a_400(client, located_shop, auth_headers, bad):
    response = client.post(
        URL, json={"cartVariantIds": ["1002"], "locationId": bad}, headers=auth_headers(located_shop)
    )
    assert response.status_code == 400
    assert "locationId" in response.json["error"]["message"]


def test_a_location_never_decides_the_shop(client, located_shop, other_shop, auth_headers):
    """Another shop's token with this shop's location sees only its own (empty) catalog."""
    items = post(client, auth_headers(other_shop), {"cartVariantIds": ["1002"], "locationId": STORE_B})
    assert items == []


def test_warm_requests_with_a_location_and_pins_run_no_sql(app, client, located_shop, auth_headers):
    commit_in(app, lambda: settings.add_pin(located_shop.id, 2, 5))
    headers = auth_headers(located_shop)
    body = {"cartVariantIds": ["1002"], "limit": 3, "locationId": STORE_B, "locale": "fr-CA"}
    first = post(client, headers, body)
    with counting_statements(app) as statements:
        again = post(client, headers, body)
    assert again == first
    assert statements == []


def test_a_level_change_shows_in_the_next_answer(app, client, located_shop, auth_headers):
    headers = auth_headers(located_shop)
    body = {"cartVariantIds": ["1002"], "limit": 3, "locationId": STORE_A}
    assert "1003" not in ids(post(client, headers, body))
    commit_in(
        app,
        lambda: inventory.store_levels(
            located_shop.id, [{"inventory_item_id": 9003, "location_id": STORE_A, "available": 3}]
        ),
    )
    assert ids(post(client, headers, body))[0] == "1003"


# ---- pins


def test_pins_come_first_with_their_reason(app, client, small_shop, auth_headers):
    commit_in(app, lambda: settings.add_pin(small_shop.id, 2, 5))  # coaster -> sugar bowl (backorder)
    items = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002"], "limit": 3})
    assert ids(items) == ["1005", "1003", "1001"]
    assert items[0]["source"] == "pinned"
    assert items[0]["reason"] == "Pairs with Coaster (set by the store)"
    assert [i["source"] for i in items[1:]] == ["model", "model"]


def test_pins_obey_stock_and_exclusions(app, client, small_shop, auth_headers):
    def pin_then_exclude():
        settings.add_pin(small_shop.id, 2, 4)  # teapot: sold out (tracked, deny)
        settings.add_pin(small_shop.id, 2, 9)  # spoon: excluded below
        settings.add_pin(small_shop.id, 2, 11)  # candle: sellable
        settings.add_excluded_product(small_shop.id, 9)

    commit_in(app, pin_then_exclude)
    items = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002"], "limit": 2})
    assert ids(items) == ["1011", "1003"]
    assert items[0]["source"] == "pinned"


def test_a_pin_sold_out_at_this_location_is_not_offered_there(app, client, located_shop, auth_headers):
    commit_in(app, lambda: settings.add_pin(located_shop.id, 2, 3))  # coaster -> tea towel
    headers = auth_headers(located_shop)
    at_a = post(client, headers, {"cartVariantIds": ["1002"], "limit": 2, "locationId": STORE_A})
    at_b = post(client, headers, {"cartVariantIds": ["1002"], "limit": 2, "locationId": STORE_B})
    assert "1003" not in ids(at_a)
    assert at_b[0]["variantId"] == "1003" and at_b[0]["source"] == "pinned"


def test_a_pinned_product_already_in_the_cart_is_not_offered(app, client, small_shop, auth_headers):
    commit_in(app, lambda: settings.add_pin(small_shop.id, 2, 3))
    items = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002", "1003"], "limit": 3})
    assert "pinned" not in {i["source"] for i in items}


# ---- exclusions by product type, vendor and tag


@pytest.mark.parametrize(
    ("column", "stored", "field", "excluded"),
    [
        ("product_type", "Kitchen Textiles", "product_type", "kitchen textiles"),
        ("vendor", "Acme Linen", "vendor", "ACME LINEN"),
        ("tags", "summer, Linen", "tag", "linen"),
    ],
)
def test_exclusions_by_type_vendor_and_tag(
    app, client, small_shop, auth_headers, column, stored, field, excluded
):
    def exclude():
        db.session.execute(
            sa.update(ProductVariant)
            .where(ProductVariant.shop_id == small_shop.id, ProductVariant.variant_id == 1003)
            .values({column: stored})
        )
        touch(small_shop.id, "catalog")  # what ingestion does with every product write
        settings.add_excluded_value(small_shop.id, field, excluded)

    headers = auth_headers(small_shop)
    assert "1003" in ids(post(client, headers, {"cartVariantIds": ["1002"], "limit": 3}))
    commit_in(app, exclude)
    assert "1003" not in ids(post(client, headers, {"cartVariantIds": ["1002"], "limit": 3}))
    commit_in(app, lambda: settings.remove_excluded_value(small_shop.id, field, stored.split(",")[-1]))
    assert "1003" in ids(post(client, headers, {"cartVariantIds": ["1002"], "limit": 3}))


# ---- reasons


def test_every_reason_key_exists_in_every_language():
    keys = set(reasons.MESSAGES[reasons.DEFAULT_LANGUAGE])
    assert {"en", "fr", "de", "es", "nl", "ja"} <= set(reasons.MESSAGES)
    for language, messages in reasons.MESSAGES.items():
        assert set(messages) == keys, language
        for key, text in messages.items():
            placeholders = {p for p in ("{title}", "{count}") if p in reasons.MESSAGES["en"][key]}
            assert all(p in text for p in placeholders), (language, key)


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr-CA", "Acheté avec Coaster dans 3 commandes"),
        ("de", "Mit Coaster in 3 Bestellungen gekauft"),
        ("es-MX", "Comprado con Coaster en 3 pedidos"),
        ("nl_NL", "Samen met Coaster gekocht in 3 bestellingen"),
        ("ja-JP", "Coasterと一緒に3件の注文で購入"),
        ("pt-BR", "Bought with Coaster in 3 orders"),  # not in the catalogue: English
        (None, "Bought with Coaster in 3 orders"),
    ],
)
def test_reasons_are_said_in_the_pos_language(client, small_shop, auth_headers, locale, expected):
    items = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002"], "locale": locale})
    assert items[0]["reason"] == expected


def test_a_malformed_locale_is_a_400(client, small_shop, auth_headers):
    response = client.post(
        URL, json={"cartVariantIds": ["1002"], "locale": "fr CA!"}, headers=auth_headers(small_shop)
    )
    assert response.status_code == 400


def test_bestseller_fills_say_so(client, small_shop, auth_headers):
    fill = post(client, auth_headers(small_shop), {"cartVariantIds": ["1003"], "limit": 2})
    assert [i["source"] for i in fill] == ["model", "bestsellers"]
    assert fill[-1]["reason"] == "A bestseller in this store"
    dutch = post(client, auth_headers(small_shop), {"cartVariantIds": ["1003"], "limit": 2, "locale": "nl"})
    assert dutch[-1]["reason"] == "Een bestseller in deze winkel"

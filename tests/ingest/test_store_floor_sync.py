"""Stock per location, product type/vendor/tags and Search & Discovery pairings, read from the
fake Admin API (bulk, catch-up pages, the metafield) exactly as from Shopify."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import discovery
from posai_app.ingest import sync as jobs
from posai_app.ingest.sync_state import get_sync_state
from posai_app.models import InventoryLevel, ProductPin, ProductVariant, ShopLocation
from posai_app.shops import settings
from tests.fakeshopify import dataset

STORES = [71_000_000_001, 71_000_000_002, 71_000_000_003, 71_000_000_004, 71_000_000_005]


def _products(count: int = 6) -> list[dict]:
    products, _ = dataset.small_history(12)
    products = copy.deepcopy(products[:count])
    for n, product in enumerate(products):
        product.update(product_type="Bags" if n % 2 else "Decor", vendor=f"Vendor {n}", tags="summer, gift")
        for variant in product["variants"]:
            variant["inventory_levels"] = [
                {"location_id": STORES[0], "available": n, "updated_at": variant.get("updated_at")},
                {"location_id": STORES[1], "available": 10 + n, "updated_at": variant.get("updated_at")},
            ]
    return products


def _levels(shop_id: int) -> dict[tuple[int, int], int]:
    rows = db.session.execute(
        sa.select(
            InventoryLevel.inventory_item_id, InventoryLevel.location_id, InventoryLevel.available
        ).where(InventoryLevel.shop_id == shop_id)
    )
    return {(item, location): available for item, location, available in rows}


def _expected(products: list[dict]) -> dict[tuple[int, int], int]:
    return {
        (v["inventory_item_id"], level["location_id"]): level["available"]
        for p in products
        for v in p["variants"]
        for level in v.get("inventory_levels") or []
    }


@pytest.mark.parametrize("level_parent", ["variant", "inventory_item"])
def test_bulk_sync_stores_levels_per_location_and_product_fields(app, fake, shop, level_parent):
    """Whichever id a level's line names as its parent (Shopify's docs leave it open for a
    connection inside the variant's inventoryItem), every level is stored."""
    products = _products()
    fake.add_shop(shop.domain, shop.access_token, products=products)
    fake.ungrouped = True  # levels come as the variants' children, anywhere after them
    fake.level_parent = level_parent
    with app.app_context():
        jobs.sync_products(shop.id)
        assert _levels(shop.id) == _expected(products)
        assert set(db.session.scalars(sa.select(ShopLocation.location_id))) == set(STORES[:2])
        row = db.session.scalar(
            sa.select(ProductVariant).where(ProductVariant.product_id == products[1]["id"])
        )
        assert (row.product_type, row.vendor, row.tags) == ("Bags", "Vendor 1", "summer, gift")


def test_catch_up_follows_items_at_many_locations_and_drops_disconnected_ones(app, fake, shop):
    products = _products(3)
    fake.add_shop(shop.domain, shop.access_token, products=products)
    with app.app_context():
        jobs.sync_products(shop.id)
    changed = copy.deepcopy(products[0])
    changed["updated_at"] = "2031-01-01T00:00:00Z"
    for variant in changed["variants"]:
        variant["updated_at"] = "2031-01-01T00:00:00Z"
        # five locations: more than a page carries per item (LEVELS_PER_ITEM), and store 1 is gone
        variant["inventory_levels"] = [
            {"location_id": loc, "available": k, "updated_at": "2031-01-01T00:00:00Z"}
            for k, loc in enumerate(STORES[1:] + [71_000_000_006])
        ]
    fake.set_product(shop.domain, changed)
    with app.app_context():
        state = get_sync_state(shop.id, "products")
        state.last_synced_at = sa.func.now()
        db.session.commit()
        fake.requests.clear()
        jobs.sync_products(shop.id)
        levels = _levels(shop.id)
    assert {
        k: v for k, v in levels.items() if k[0] in {v["inventory_item_id"] for v in changed["variants"]}
    } == (_expected([changed]))
    assert "InventoryItemLevelsPage" in {r["operation"] for r in fake.requests}
    untouched = products[1:]
    assert {k: v for k, v in levels.items() if k in _expected(untouched)} == _expected(untouched)


def test_search_and_discovery_pairings_become_pins_served_first(app, client, fake, shop, auth_headers):
    products = _products(4)
    a, b, c, d = (p["id"] for p in products)
    products[0]["complementary_product_ids"] = [c, b, a, 999_999]  # itself and an unknown product: skipped
    products[2]["complementary_product_ids"] = [d]
    fake.add_shop(shop.domain, shop.access_token, products=products)
    with app.app_context():
        jobs.sync_products(shop.id)
        settings.add_pin(shop.id, a, d)  # the merchant's own pin stays first
        db.session.commit()
        summary = discovery.import_discovery_pins(shop.id)
        pins = db.session.execute(
            sa.select(ProductPin.product_id, ProductPin.pinned_product_id, ProductPin.origin).order_by(
                ProductPin.product_id, ProductPin.position
            )
        ).all()
    assert summary == {"products": 2, "pins": 3, "skipped": 2}
    assert [tuple(p) for p in pins if p[0] == a] == [
        (a, d, "merchant"),
        (a, c, "search_discovery"),
        (a, b, "search_discovery"),
    ]
    assert [tuple(p) for p in pins if p[0] == c] == [(c, d, "search_discovery")]
    cart = [str(products[0]["variants"][0]["id"])]
    response = client.post(
        "/api/recommendations", json={"cartVariantIds": cart, "limit": 3}, headers=auth_headers(shop)
    )
    items = response.json["recommendations"]
    assert [i["productId"] for i in items] == [str(d), str(c), str(b)]
    assert {i["source"] for i in items} == {"pinned"}
    assert items[1]["reason"] == f"Pairs with {products[0]['title']} (set by the store)"
    # A second import replaces what the first imported and keeps the merchant's pin.
    products[0]["complementary_product_ids"] = [b]
    fake.set_product(shop.domain, products[0])
    with app.app_context():
        discovery.import_discovery_pins(shop.id)
        again = (
            db.session.execute(
                sa.select(ProductPin.pinned_product_id)
                .where(ProductPin.product_id == a)
                .order_by(ProductPin.position)
            )
            .scalars()
            .all()
        )
    assert again == [d, b]


def test_product_references_are_read_only_from_product_gids():
    value = '["gid://shopify/Product/11", "gid://shopify/Collection/2", "gid://shopify/Product/11", 5]'
    assert discovery.parse_product_references(value) == [11]
    assert discovery.parse_product_references("not json") == []
    assert discovery.parse_product_references(None) == []

"""A small hand-made shop whose index and catalog exercise every filter."""

from __future__ import annotations

from decimal import Decimal

import pytest

from posai_app.extensions import db
from posai_app.models import ProductVariant, RecommenderConfig
from tests.serving.seed import seed_index

# variant_id: (product_id, title, qty, tracked, policy, status, gift_card)
CATALOG = {
    1001: (1, "Mug", 5, True, "deny", "active", False),
    1002: (2, "Coaster", 3, True, "deny", "active", False),
    1003: (3, "Tea towel", 9, True, "deny", "active", False),
    1004: (4, "Teapot (sold out)", 0, True, "deny", "active", False),
    1005: (5, "Sugar bowl (backorder)", 0, True, "continue", "active", False),
    1006: (1, "Mug, large", 4, True, "deny", "active", False),
    1007: (7, "Gift card", 0, False, "deny", "active", True),
    1008: (8, "Old tray", 2, True, "deny", "archived", False),
    1009: (9, "Excluded spoon", 2, True, "deny", "active", False),
    1010: (10, "Napkins (untracked)", 0, False, "deny", "active", False),
    1011: (11, "Bestseller candle", 6, True, "deny", "active", False),
}
# Shopify calls a product's only variant "Default Title"; one variant here has a real title.
VARIANT_TITLES = {1002: "Set of 4"}
# source -> [(target, score)]
NEIGHBORS = {
    1001: [
        (1004, 9.0),
        (1007, 8.0),
        (1008, 7.0),
        (1009, 6.5),
        (1006, 6.0),
        (1002, 5.0),
        (1003, 4.0),
        (1005, 3.0),
    ],
    1002: [(1003, 2.0), (1001, 1.0), (1010, 0.5)],
    1003: [(1002, 2.0)],
}


def add_catalog(shop_id: int, prefix: str = "") -> None:
    for vid, (pid, title, qty, tracked, policy, status, gift) in CATALOG.items():
        db.session.add(
            ProductVariant(
                shop_id=shop_id,
                variant_id=vid,
                product_id=pid,
                product_title=prefix + title,
                variant_title=VARIANT_TITLES.get(vid, "Default Title"),
                price=Decimal("4.50"),
                inventory_quantity=qty,
                inventory_tracked=tracked,
                inventory_policy=policy,
                status=status,
                is_gift_card=gift,
            )
        )


# (variant, orders, recent orders): 1011 is the recent bestseller.
STATS = [(vid, 1, 50 if vid == 1011 else 1) for vid in CATALOG]


def add_neighbors(shop_id: int, score_bump: float = 0.0) -> None:
    """The NEIGHBORS index (scores shifted by `score_bump`, as a retrained index would be) and STATS."""
    seed_index(
        shop_id,
        (
            (source, target, int(score) + 1, score + score_bump)
            for source, targets in NEIGHBORS.items()
            for target, score in targets
        ),
        STATS,
    )


def add_index(shop_id: int, version: int = 1) -> None:
    add_neighbors(shop_id)
    db.session.add(
        RecommenderConfig(shop_id=shop_id, metric="cosine", model_version=version, status="trained")
    )


@pytest.fixture
def small_shop(app, shop):
    with app.app_context():
        add_catalog(shop.id)
        add_index(shop.id)
        db.session.commit()
    yield shop

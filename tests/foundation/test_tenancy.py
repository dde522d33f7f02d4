"""Two shops with identical Shopify ids never see each other's rows."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from posai_app.errors import NotFound
from posai_app.extensions import db
from posai_app.models import (
    BulkOrderHeader,
    ChallengerSwitch,
    EvaluationRun,
    ImpactAdded,
    ImpactDrop,
    ImpactLine,
    ImpactOrder,
    ImpactShown,
    InventoryLevel,
    OrderLineItem,
    OrderVersion,
    ProductPin,
    ProductVariant,
    RecommenderConfig,
    ServingIndexBlob,
    Shop,
    ShopifyTombstone,
    ShopLocation,
    SyncState,
    VariantNeighbor,
    VariantStat,
    WebhookDelivery,
    shop_owned_models,
)
from posai_app.shops.lifecycle import delete_shop_data
from posai_app.tenancy import get_for_shop_or_404, select_for_shop


def _fill(shop_id: int, title: str) -> None:
    now = datetime.now(UTC)
    db.session.add_all(
        [
            ProductVariant(
                shop_id=shop_id, variant_id=101, product_id=11, product_title=title, price=Decimal("5.00")
            ),
            ProductVariant(
                shop_id=shop_id, variant_id=102, product_id=12, product_title=title, price=Decimal("6.00")
            ),
            OrderLineItem(
                shop_id=shop_id,
                line_item_id=9001,
                order_id=501,
                created_at=now,
                variant_id=101,
                product_id=11,
                title=title,
                quantity=1,
            ),
            OrderLineItem(
                shop_id=shop_id,
                line_item_id=9002,
                order_id=501,
                created_at=now,
                variant_id=102,
                product_id=12,
                title=title,
                quantity=2,
            ),
            VariantNeighbor(
                shop_id=shop_id, source_variant_id=101, target_variant_id=102, co_count=1, score=1.0
            ),
            RecommenderConfig(shop_id=shop_id, metric="cosine"),
            ServingIndexBlob(shop_id=shop_id, format=1, variants=0, neighbors=0, payload=b""),
            EvaluationRun(shop_id=shop_id, status="succeeded"),
            WebhookDelivery(shop_id=shop_id, webhook_id="same-webhook-id", topic="orders/create"),
            SyncState(shop_id=shop_id, resource="orders"),
            VariantStat(shop_id=shop_id, variant_id=101, order_count=1, recent_order_count=1),
            ShopifyTombstone(shop_id=shop_id, resource="order", resource_id=777, reason="deleted"),
            OrderVersion(shop_id=shop_id, order_id=501, shopify_updated_at=now),
            BulkOrderHeader(shop_id=shop_id, order_id=502, created_at=now, shopify_updated_at=now),
            ShopLocation(shop_id=shop_id, location_id=66),
            InventoryLevel(shop_id=shop_id, inventory_item_id=7001, location_id=66, available=3),
            ProductPin(shop_id=shop_id, product_id=11, pinned_product_id=12, position=0),
            ChallengerSwitch(shop_id=shop_id, switched_at=now, from_metric="cosine", to_metric="ease"),
            *_impact_rows(shop_id, now),
        ]
    )


def _impact_rows(shop_id: int, now: datetime) -> list:
    answer = {"recommendation_id": "same-rec", "metric": "cosine", "model_version": 1}
    return [
        ImpactShown(
            shop_id=shop_id, event_id="same-event", issued_at=now, shown_at=now, variant_ids=["102"], **answer
        ),
        ImpactAdded(shop_id=shop_id, variant_id=102, event_id="same-event", added_at=now, **answer),
        ImpactLine(
            shop_id=shop_id,
            line_item_id=9002,
            order_id=501,
            created_at=now,
            quantity=2,
            current_quantity=2,
            **answer,
        ),
        ImpactOrder(
            shop_id=shop_id, order_id=501, recommendation_id="same-rec", created_at=now, metric="cosine"
        ),
        ImpactDrop(shop_id=shop_id, day=now.date(), reason="duplicate", count=1),
    ]


@pytest.fixture
def two_filled_shops(app_ctx, shop, other_shop):
    _fill(shop.id, "alpha")
    _fill(other_shop.id, "beta")
    db.session.commit()
    return shop, other_shop


def test_every_read_helper_returns_only_its_own_shops_rows(two_filled_shops):
    shop, other = two_filled_shops
    for model in shop_owned_models():
        mine = db.session.scalars(select_for_shop(model, shop.id)).all()
        theirs = db.session.scalars(select_for_shop(model, other.id)).all()
        assert mine and theirs, model.__name__
        assert {row.shop_id for row in mine} == {shop.id}, model.__name__
        assert {row.shop_id for row in theirs} == {other.id}, model.__name__
    titles = db.session.scalars(
        select_for_shop(ProductVariant, shop.id).where(ProductVariant.variant_id == 101)
    )
    assert [v.product_title for v in titles] == ["alpha"]


def test_another_shops_row_is_not_found(two_filled_shops):
    shop, other = two_filled_shops
    foreign = db.session.scalars(select_for_shop(ProductVariant, other.id)).first()
    assert get_for_shop_or_404(ProductVariant, foreign.variant_id, other.id) is foreign
    # The two shops share Shopify's ids: the same key finds each shop's own row, never the other's.
    mine = get_for_shop_or_404(ProductVariant, foreign.variant_id, shop.id)
    assert mine is not foreign and mine.shop_id == shop.id
    only_theirs = ProductVariant(shop_id=other.id, variant_id=999_999, product_id=1, product_title="x")
    db.session.add(only_theirs)
    db.session.flush()
    with pytest.raises(NotFound):
        get_for_shop_or_404(ProductVariant, only_theirs.variant_id, shop.id)


def test_select_for_shop_refuses_a_non_integer_shop_id(app_ctx):
    with pytest.raises(TypeError):
        select_for_shop(ProductVariant, "alpha-shop.myshopify.com")


def test_deleting_a_shop_removes_all_its_rows_and_nothing_else(two_filled_shops):
    shop, other = two_filled_shops
    before_other = {
        m: db.session.scalar(sa.select(sa.func.count()).select_from(m).where(m.shop_id == other.id))
        for m in shop_owned_models()
    }
    removed = delete_shop_data(shop.id)
    db.session.commit()
    assert removed["order_line_items"] == 2
    for model in shop_owned_models():
        assert (
            db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.shop_id == shop.id))
            == 0
        )
        count = db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.shop_id == other.id)
        )
        assert count == before_other[model]
    assert db.session.get(Shop, shop.id) is None
    assert db.session.get(Shop, other.id) is not None


def test_database_cascade_removes_rows_when_the_shop_row_goes(two_filled_shops):
    """Every shop-owned table but order_line_items cascades from shops. order_line_items has no
    foreign key (migration 0016: its writers hold the shop's row per batch instead); its rows go
    through delete_shop_data, the one way the app deletes a shop (the test above)."""
    shop, other = two_filled_shops
    db.session.execute(sa.delete(Shop).where(Shop.id == shop.id))
    db.session.commit()
    for model in shop_owned_models():
        left = db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.shop_id == shop.id)
        )
        assert left == (2 if model is OrderLineItem else 0), model.__tablename__


def test_tokens_are_encrypted_at_rest_and_absent_from_repr(app_ctx, shop):
    raw = db.session.execute(
        sa.text("SELECT access_token, refresh_token FROM shops WHERE id = :i"), {"i": shop.id}
    ).one()
    loaded = db.session.get(Shop, shop.id)
    assert loaded.access_token.startswith("shpat_")
    assert loaded.access_token not in raw.access_token
    assert loaded.refresh_token not in raw.refresh_token
    assert "shpat_" not in repr(loaded)


def test_the_shop_filter_is_written_in_one_place():
    """Every query of shop-owned rows filters through tenancy.of_shop; none spells `shop_id ==`."""
    import re
    from pathlib import Path

    package = Path(__file__).resolve().parents[2] / "posai_app"
    hand_written = [
        f"{path.relative_to(package.parent)}:{number}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "tenancy.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\.shop_id\s*(==|!=)|\.c\.shop_id\b", line)
    ]
    assert hand_written == []

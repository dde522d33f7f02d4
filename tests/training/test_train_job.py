"""The train job end to end on a small shop: filters, publish, insufficient data, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import (
    EvaluationRun,
    OrderLineItem,
    ProductVariant,
    RecommenderConfig,
    VariantNeighbor,
    VariantStat,
)
from posai_app.training.baskets import iter_orders
from posai_app.training.jobs import train_shop
from posai_app.training.services import request_training

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def add_order(shop_id: int, order_id: int, variants: list[int], day: int, **line) -> None:
    for position, vid in enumerate(variants):
        db.session.add(
            OrderLineItem(
                shop_id=shop_id,
                line_item_id=order_id * 100 + position,
                order_id=order_id,
                created_at=T0 + timedelta(days=day),
                variant_id=vid,
                product_id=vid // 10,
                title=f"v{vid}",
                quantity=1,
                **line,
            )
        )


def add_history(shop_id: int, orders: int = 60) -> None:
    # 11 and 12 are bought together; 13 pairs with 11 now and then.
    for n in range(orders):
        items = [11, 12] if n % 3 else [11, 13, 12]
        add_order(shop_id, 1000 + n, items, day=n)
    for vid in (11, 12, 13):
        db.session.add(
            ProductVariant(shop_id=shop_id, variant_id=vid, product_id=vid * 10, product_title=f"p{vid}")
        )


def test_baskets_skip_custom_sales_gift_cards_cancelled_and_variantless_items(app_ctx, shop):
    add_order(shop.id, 1, [11, 12], day=0)
    add_order(shop.id, 2, [11, 14], day=1, cancelled_at=T0)
    add_order(shop.id, 3, [11], day=2)
    db.session.add(
        OrderLineItem(
            shop_id=shop.id,
            line_item_id=399,
            order_id=3,
            created_at=T0 + timedelta(days=2),
            variant_id=None,
            title="custom",
            quantity=1,
            is_custom_sale=True,
        )
    )
    db.session.add(
        OrderLineItem(
            shop_id=shop.id,
            line_item_id=398,
            order_id=3,
            created_at=T0 + timedelta(days=2),
            variant_id=15,
            title="custom sale",
            quantity=1,
            is_custom_sale=True,
        )
    )
    add_order(shop.id, 4, [11, 16], day=3)
    db.session.add(
        ProductVariant(
            shop_id=shop.id, variant_id=16, product_id=1, product_title="Gift card", is_gift_card=True
        )
    )
    db.session.commit()
    assert [(o.order_id, list(o.variant_ids)) for o in iter_orders(shop.id)] == [
        ("1", ["11", "12"]),
        ("3", ["11"]),
        ("4", ["11"]),
    ]


def test_train_publishes_index_stats_config_and_run(app_ctx, shop):
    add_history(shop.id)
    db.session.commit()
    run_id = train_shop(shop.id, "test")
    run = db.session.get(EvaluationRun, (shop.id, run_id))
    assert run.status == "succeeded"
    assert run.train_orders == 48 and run.evaluated_orders == 12
    assert set(run.results["results"]) >= {
        "cooccurrence",
        "cosine",
        "confidence",
        "lift",
        "jaccard",
        "popularity",
    }
    config = db.session.scalar(sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == shop.id))
    assert config.status == "trained" and config.model_version == 1 and config.metric == run.chosen_metric
    pairs = {
        (n.source_variant_id, n.target_variant_id)
        for n in db.session.scalars(sa.select(VariantNeighbor).where(VariantNeighbor.shop_id == shop.id))
    }
    assert (11, 12) in pairs and (12, 11) in pairs
    counts = {
        s.variant_id: s.order_count
        for s in db.session.scalars(sa.select(VariantStat).where(VariantStat.shop_id == shop.id))
    }
    assert counts == {11: 60, 12: 60, 13: 20}
    # Training again replaces, never duplicates, and bumps the version.
    train_shop(shop.id, "test")
    assert (
        db.session.scalar(
            sa.select(RecommenderConfig.model_version).where(RecommenderConfig.shop_id == shop.id)
        )
        == 2
    )
    assert db.session.scalar(
        sa.select(sa.func.count()).select_from(VariantNeighbor).where(VariantNeighbor.shop_id == shop.id)
    ) == len(pairs)


def test_a_shop_without_multi_item_orders_gets_a_clear_status_and_bestsellers(
    app, client, shop, auth_headers
):
    with app.app_context():
        for n in range(5):
            add_order(shop.id, 2000 + n, [21 if n % 2 else 22], day=n)
        for vid in (21, 22):
            db.session.add(
                ProductVariant(shop_id=shop.id, variant_id=vid, product_id=vid, product_title=f"p{vid}")
            )
        db.session.commit()
        run = db.session.get(EvaluationRun, (shop.id, train_shop(shop.id, "test")))
        assert run.status == "insufficient_data"
        assert "multi-item" in run.error
    response = client.post(
        "/api/recommendations", json={"cartVariantIds": ["21"]}, headers=auth_headers(shop)
    )
    assert [(r["variantId"], r["source"]) for r in response.json["recommendations"]] == [
        ("22", "bestsellers")
    ]


def test_a_failing_training_is_recorded_and_leaves_the_old_index(app_ctx, shop, monkeypatch):
    add_history(shop.id)
    db.session.commit()
    train_shop(shop.id, "test")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(VariantNeighbor))

    def boom(*args, **kwargs):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr("posai_app.reco.train", boom)
    with pytest.raises(RuntimeError):
        train_shop(shop.id, "test")
    last = db.session.scalar(sa.select(EvaluationRun).order_by(EvaluationRun.id.desc()).limit(1))
    assert last.status == "failed" and "engine exploded" in last.error
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VariantNeighbor)) == before


def test_trained_shop_answers_carts_from_its_index(app, client, shop, auth_headers):
    with app.app_context():
        add_history(shop.id)
        db.session.commit()
        train_shop(shop.id, "test")
    response = client.post(
        "/api/recommendations", json={"cartVariantIds": ["11"]}, headers=auth_headers(shop)
    )
    assert response.json["recommendations"][0]["variantId"] == "12"
    assert response.json["recommendations"][0]["source"] == "model"


def test_request_training_while_running_is_coalesced(app_ctx, shop):
    db.session.add(EvaluationRun(shop_id=shop.id, status="running"))
    db.session.commit()
    assert request_training(shop.id, "admin")["status"] == "already_running"


def test_request_training_enqueues_one_job_per_shop(app, shop, requires_redis, run_jobs):
    from posai_app.queue import get_queue

    with app.app_context():
        add_history(shop.id)
        db.session.commit()
        assert request_training(shop.id, "admin")["status"] == "queued"
        assert request_training(shop.id, "admin")["status"] == "queued"
        assert get_queue("train").count == 1
    run_jobs()
    with app.app_context():
        runs = db.session.scalars(sa.select(EvaluationRun).where(EvaluationRun.shop_id == shop.id)).all()
        assert [r.status for r in runs] == ["succeeded"]

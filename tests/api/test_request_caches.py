"""The request path's per-process caches: no SQL when warm, and never stale after a committed change.

Changes are made the way production makes them (ingestion services, admin settings,
training publish, uninstall) and must show in the very next answer, in this process and,
through Redis, in another app standing in for another web process.
"""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from posai_app import cache_signals
from posai_app.extensions import db
from posai_app.ingest.products import delete_product, set_inventory_quantity
from posai_app.models import RecommenderConfig, Shop
from tests.api.conftest import add_catalog, add_index

URL = "/api/recommendations"


def recommended(client, headers, cart, limit=3):
    response = client.post(URL, json={"cartVariantIds": cart, "limit": limit}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [r["variantId"] for r in response.json["recommendations"]]


@contextmanager
def counting_statements(app):
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def commit_in(app, change):
    with app.app_context():
        change()
        db.session.commit()


def test_a_warm_request_runs_no_sql(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    first = recommended(client, headers, ["1002"])
    with counting_statements(app) as statements:
        again = recommended(client, headers, ["1002"])
    assert again == first
    assert statements == []


def test_a_stock_change_shows_in_the_next_answer(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    assert recommended(client, headers, ["1002"])[0] == "1003"
    commit_in(app, lambda: set_inventory_quantity(small_shop.id, 1003, 0))
    assert "1003" not in recommended(client, headers, ["1002"])
    commit_in(app, lambda: set_inventory_quantity(small_shop.id, 1003, 4))
    assert recommended(client, headers, ["1002"])[0] == "1003"


def test_a_deleted_product_is_never_offered_again(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    assert "1003" in recommended(client, headers, ["1002"])
    commit_in(app, lambda: delete_product(small_shop.id, 3))
    assert "1003" not in recommended(client, headers, ["1002"])


def test_a_settings_change_shows_in_the_next_answer(app, client, small_shop, auth_headers):
    from posai_app.shops.settings import add_excluded_product, update_settings

    headers = auth_headers(small_shop)
    response = client.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers)
    assert len(response.json["recommendations"]) == 2
    commit_in(
        app,
        lambda: update_settings(
            small_shop.id,
            {"recommendation_limit": "1", "retrain_interval_minutes": "60", "bestseller_fallback": "on"},
        ),
    )
    response = client.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers)
    assert len(response.json["recommendations"]) == 1
    commit_in(app, lambda: add_excluded_product(small_shop.id, 3))
    assert "1003" not in recommended(client, headers, ["1002"])


def test_a_rolled_back_change_is_not_served(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    before = recommended(client, headers, ["1002"])
    with app.app_context():
        set_inventory_quantity(small_shop.id, 1003, 0)
        db.session.rollback()
    assert recommended(client, headers, ["1002"]) == before


def test_a_new_model_version_replaces_the_cached_index(app, client, small_shop, auth_headers):
    headers = auth_headers(small_shop)
    assert client.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers).json["metric"] == "cosine"

    def retrain():
        config = db.session.scalar(
            sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == small_shop.id)
        )
        config.metric, config.model_version = "lift", config.model_version + 1

    commit_in(app, retrain)
    assert client.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers).json["metric"] == "lift"


def test_an_uninstalled_shop_is_refused_at_once(app, client, small_shop, auth_headers):
    from posai_app.shops.lifecycle import uninstall_shop

    headers = auth_headers(small_shop)
    recommended(client, headers, ["1002"])
    with app.app_context():
        uninstall_shop(small_shop.id)
    # The cached snapshot said "installed"; now the app must try a token exchange (which the
    # unreachable Shopify refuses) instead of answering from cached data.
    response = client.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers)
    assert response.status_code >= 400
    assert "recommendations" not in (response.json or {})


def test_another_process_sees_a_change_through_redis(requires_redis, make_app, small_shop, auth_headers):
    web_a = make_app()
    web_b = make_app()  # another process: its own caches, the same database and Redis
    headers = auth_headers(small_shop)
    client_a = web_a.test_client()
    assert recommended(client_a, headers, ["1002"])[0] == "1003"
    commit_in(web_b, lambda: set_inventory_quantity(small_shop.id, 1003, 0))
    assert "1003" not in recommended(client_a, headers, ["1002"])  # tests check signals on every request


def test_without_redis_other_processes_catch_up_after_max_age(make_app, small_shop, auth_headers):
    web_a = make_app(REDIS_URL="", SERVING_CACHE_MAX_AGE=0.3)
    web_b = make_app(REDIS_URL="")
    headers = auth_headers(small_shop)
    client_a = web_a.test_client()
    assert recommended(client_a, headers, ["1002"])[0] == "1003"
    commit_in(web_b, lambda: set_inventory_quantity(small_shop.id, 1003, 0))
    time.sleep(0.35)
    assert "1003" not in recommended(client_a, headers, ["1002"])


def test_unreadable_signals_bypass_the_caches(make_app, small_shop, auth_headers):
    web = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    headers = auth_headers(small_shop)
    client = web.test_client()
    assert recommended(client, headers, ["1002"])[0] == "1003"
    commit_in(web, lambda: set_inventory_quantity(small_shop.id, 1003, 0))
    assert "1003" not in recommended(client, headers, ["1002"])


def test_a_change_during_a_load_is_not_cached_under_the_new_signal(app):
    with app.app_context():
        cache = cache_signals.shop_cache("test-race", "catalog", 8)

        def load_while_a_change_commits(_previous):
            cache_signals.signals().publish([(42, "catalog")])  # committed after our read began
            return "old rows"

        assert cache.get_or_load(42, load_while_a_change_commits) == "old rows"
        assert cache.get_or_load(42, lambda _previous: "new rows") == "new rows"
        assert cache.get_or_load(42, lambda _previous: pytest.fail("should be cached")) == "new rows"


def test_other_shops_are_not_invalidated(app, client, shop, other_shop, auth_headers):
    with app.app_context():
        for s in (shop, other_shop):
            add_catalog(s.id)
            add_index(s.id)
        db.session.commit()
    recommended(client, auth_headers(other_shop), ["1002"])
    commit_in(app, lambda: set_inventory_quantity(shop.id, 1003, 0))
    with counting_statements(app) as statements:
        assert recommended(client, auth_headers(other_shop), ["1002"])[0] == "1003"
    assert statements == []
    assert "1003" not in recommended(client, auth_headers(shop), ["1002"])


def test_touch_refuses_unknown_kinds(app):
    with app.app_context(), pytest.raises(ValueError, match="unknown signal kinds"):
        cache_signals.touch(1, "catalogue")


def test_shop_rows_flushed_through_the_orm_raise_the_shop_signal(app, shop):
    with app.app_context():
        before = cache_signals.signals().token(shop.id, "shop")
        db.session.get(Shop, shop.id).settings = {"recommendation_limit": 3}
        db.session.commit()
        assert cache_signals.signals().token(shop.id, "shop") not in (before, False)


def test_a_new_shop_raises_every_signal_in_case_its_id_was_used_before(app):
    with app.app_context():
        new = Shop(domain="reused-id.myshopify.com", settings={})
        db.session.add(new)
        db.session.commit()
        board = cache_signals.signals()
        assert all(board.token(new.id, kind) not in (None, False) for kind in cache_signals.KINDS)


def test_the_serving_cache_is_bounded_by_bytes_least_recently_used_out(make_app):
    """Many small shops fit the budget; one shop too big for what is left pushes out the oldest."""
    import numpy as np

    from posai_app.api.serving import index_bytes
    from posai_app.reco import NeighborIndex
    from posai_app.serving.store import ServingIndex

    def state(variants: int) -> ServingIndex:
        index = NeighborIndex(
            [str(v) for v in range(variants)],
            np.ones(variants),
            np.zeros(variants + 1),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
        )
        return ServingIndex(version=(1, None), metric="cosine", index=index, bestsellers=())

    small, big = state(10), state(20_000)
    assert index_bytes(big) > 100 * index_bytes(small)
    with make_app().app_context():
        cache = cache_signals.shop_cache(
            "bounded-test",
            "model",
            10_000,
            max_bytes=index_bytes(big) + 3 * index_bytes(small),
            size_of=index_bytes,
        )
        for shop_id in range(1, 5):
            cache.put(shop_id, "t", small)
        cache.put(99, "t", big)  # over budget by one small shop: the least recently used goes
        assert set(cache._entries) == {2, 3, 4, 99}
        assert cache.total_bytes <= cache.max_bytes
        cache.put(100, "t", big)  # two big shops exceed the budget: everything older goes
        assert set(cache._entries) == {100}
        cache.forget()
        assert cache.total_bytes == 0

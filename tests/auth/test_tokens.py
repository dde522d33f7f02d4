"""Expiring offline tokens against the fake over HTTP: refresh before expiry, one refresher per shop,
refused grants mark the shop for re-auth instead of looping."""

from __future__ import annotations

import threading
import time

import pytest

from posai_app.auth.tokens import AuthRevoked, TokenRequestFailed, get_access_token, refresh_access_token
from posai_app.extensions import db
from posai_app.models import Shop

DOMAIN = "alpha-shop.myshopify.com"


def _shop(app, shop_id: int) -> Shop:
    with app.app_context():
        shop = db.session.get(Shop, shop_id)
        db.session.expunge(shop)
        return shop


def test_fresh_token_is_returned_without_calling_shopify(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=3600)
    with app.app_context():
        assert get_access_token(shop_id) == fake_shopify.grants[DOMAIN].access_token
    assert fake_shopify.requests == []


def test_token_expiring_within_five_minutes_is_refreshed_and_stored(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=120)
    old_refresh = fake_shopify.grants[DOMAIN].refresh_token
    with app.app_context():
        token = get_access_token(shop_id)
    [refresh] = fake_shopify.grant_requests("refresh_token")
    assert refresh["params"]["refresh_token"] == old_refresh
    assert refresh["params"]["client_id"] == app.config["SHOPIFY_API_KEY"]
    grant = fake_shopify.grants[DOMAIN]
    assert token == grant.access_token
    shop = _shop(app, shop_id)
    assert shop.access_token == grant.access_token and shop.refresh_token == grant.refresh_token
    assert shop.access_token_expires_at.timestamp() - time.time() > 3500
    with app.app_context():
        assert get_access_token(shop_id) == token  # now fresh: no second refresh
    assert len(fake_shopify.grant_requests("refresh_token")) == 1


def test_refresh_after_someone_else_refreshed_returns_their_token(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=3600)
    stale = fake_shopify.grants[DOMAIN].access_token
    with app.app_context():
        first = refresh_access_token(shop_id, stale_token=stale)  # e.g. after a 401 from the Admin API
        second = refresh_access_token(shop_id, stale_token=stale)  # a second caller with the same 401
    assert first == second != stale
    assert len(fake_shopify.grant_requests("refresh_token")) == 1


def test_refresh_without_stale_token_always_refreshes(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=3600)
    with app.app_context():
        first = refresh_access_token(shop_id)
        second = refresh_access_token(shop_id)
    assert first != second
    assert len(fake_shopify.grant_requests("refresh_token")) == 2


def test_invalid_grant_marks_the_shop_for_reauth_and_stops(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=60)
    fake_shopify.grants[DOMAIN].refresh_token = "shprt_revoked_elsewhere"  # Shopify no longer knows ours
    with app.app_context():
        with pytest.raises(AuthRevoked) as info:
            get_access_token(shop_id)
        assert info.value.status == 401
        with pytest.raises(AuthRevoked):  # no loop: the second call does not ask Shopify again
            get_access_token(shop_id)
    assert _shop(app, shop_id).needs_reauth is True
    assert len(fake_shopify.grant_requests("refresh_token")) == 1


def test_refresh_token_expired_at_shopify_is_invalid_grant(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=60)
    fake_shopify.expire_refresh_token(DOMAIN)
    with app.app_context(), pytest.raises(AuthRevoked):
        get_access_token(shop_id)
    assert _shop(app, shop_id).needs_reauth is True


def test_refresh_token_past_its_stored_expiry_is_not_sent(app, seed_shop, fake_shopify):
    from datetime import UTC, datetime, timedelta

    shop_id = seed_shop(
        DOMAIN, expires_in=-10, refresh_token_expires_at=datetime.now(UTC) - timedelta(days=1)
    )
    with app.app_context(), pytest.raises(AuthRevoked):
        get_access_token(shop_id)
    assert _shop(app, shop_id).needs_reauth is True
    assert fake_shopify.grant_requests("refresh_token") == []


def test_shopify_outage_is_a_retryable_error_not_a_revocation(app, seed_shop, fake_shopify):
    shop_id = seed_shop(DOMAIN, expires_in=60)
    fake_shopify.fail_with_status = 503
    with app.app_context(), pytest.raises(TokenRequestFailed):
        get_access_token(shop_id)
    assert _shop(app, shop_id).needs_reauth is False


def test_unknown_or_uninstalled_shop_has_no_token(app, seed_shop):
    from datetime import UTC, datetime

    shop_id = seed_shop(DOMAIN, uninstalled_at=datetime.now(UTC))
    with app.app_context():
        with pytest.raises(AuthRevoked):
            get_access_token(shop_id)
        with pytest.raises(AuthRevoked):
            get_access_token(shop_id + 1000)


def _race(application, shop_id: int, threads: int = 2) -> list[str | BaseException]:
    barrier = threading.Barrier(threads)
    results: list[str | BaseException] = []

    def worker() -> None:
        with application.app_context():
            barrier.wait()
            try:
                results.append(get_access_token(shop_id))
            except BaseException as exc:  # surfaced by the assertion below
                results.append(exc)
            finally:
                db.session.remove()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return results


def _assert_one_refresh(fake_shopify, results: list) -> None:
    assert all(isinstance(r, str) for r in results), results
    assert len(set(results)) == 1
    assert results[0] == fake_shopify.grants[DOMAIN].access_token
    assert len(fake_shopify.grant_requests("refresh_token")) == 1


def test_two_threads_racing_to_refresh_make_one_refresh(app, seed_shop, fake_shopify):
    """Redis lock when Redis is configured, else the row lock (PostgreSQL) or the process lock (SQLite)."""
    shop_id = seed_shop(DOMAIN, expires_in=30)
    fake_shopify.refresh_delay = 0.3  # both threads are inside get_access_token while it runs
    _assert_one_refresh(fake_shopify, _race(app, shop_id))


def test_racing_refresh_with_redis_lock(app, seed_shop, fake_shopify, requires_redis):
    shop_id = seed_shop(DOMAIN, expires_in=30)
    fake_shopify.refresh_delay = 0.3
    _assert_one_refresh(fake_shopify, _race(app, shop_id, threads=4))


def test_racing_refresh_with_postgres_row_lock(make_app, seed_shop, fake_shopify, requires_postgres):
    application = make_app(REDIS_URL=None, SHOPIFY_ADMIN_BASE_URL=fake_shopify.base_url)
    shop_id = seed_shop(DOMAIN, expires_in=30)
    fake_shopify.refresh_delay = 0.3
    _assert_one_refresh(fake_shopify, _race(application, shop_id, threads=4))


def test_racing_refresh_with_process_lock_on_sqlite(make_app, seed_shop, fake_shopify):
    application = make_app(REDIS_URL=None, SHOPIFY_ADMIN_BASE_URL=fake_shopify.base_url)
    with application.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the process lock is the SQLite path; PostgreSQL uses the row lock")
    shop_id = seed_shop(DOMAIN, expires_in=30)
    fake_shopify.refresh_delay = 0.3
    _assert_one_refresh(fake_shopify, _race(application, shop_id, threads=4))

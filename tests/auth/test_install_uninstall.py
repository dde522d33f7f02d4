"""install_shop / uninstall_shop: upsert, clean uninstall, a reinstall that starts from nothing,
and tokens that never reach the database or the logs in clear text."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import ProductVariant, Shop
from posai_app.shops.lifecycle import install_shop, uninstall_shop
from tests.helpers import make_session_token

DOMAIN = "epsilon-shop.myshopify.com"


def _response(n: int) -> dict:
    return {
        "access_token": f"shpat_test_access_{n}_0123456789",
        "scope": "read_products,read_orders",
        "expires_in": 3600,
        "refresh_token": f"shprt_test_refresh_{n}_0123456789",
        "refresh_token_expires_in": 7776000,
    }


def _add_variant(shop_id: int) -> None:
    db.session.add(
        ProductVariant(
            shop_id=shop_id, variant_id=1, product_id=2, product_title="Mug", price=Decimal("9.50")
        )
    )
    db.session.commit()


def test_install_upserts_and_replaces_tokens(app_ctx, enqueued):
    first = install_shop(DOMAIN, _response(1))
    second = install_shop(DOMAIN, _response(2))
    assert first.id == second.id
    shop = db.session.scalar(sa.select(Shop).where(Shop.domain == DOMAIN))
    assert shop.access_token == _response(2)["access_token"]
    assert shop.scopes == "read_products,read_orders"
    assert len(enqueued) == 1  # the first sync once, not on every token replacement


def test_install_accepts_a_non_expiring_token(app_ctx, enqueued):
    shop = install_shop(DOMAIN, {"access_token": "shpat_forever_0123456789", "scope": "read_products"})
    assert shop.access_token_expires_at is None and shop.refresh_token is None


def test_uninstall_deletes_the_shop_and_its_data_and_is_idempotent(app_ctx, enqueued):
    shop_id = install_shop(DOMAIN, _response(1)).id
    _add_variant(shop_id)
    uninstall_shop(shop_id)
    assert db.session.get(Shop, shop_id) is None
    assert db.session.scalars(sa.select(ProductVariant).where(ProductVariant.shop_id == shop_id)).all() == []
    uninstall_shop(shop_id)  # a redelivered app/uninstalled


def test_uninstall_leaves_other_shops_alone(app_ctx, enqueued, other_shop):
    shop_id = install_shop(DOMAIN, _response(1)).id
    _add_variant(other_shop.id)
    uninstall_shop(shop_id)
    assert db.session.get(Shop, other_shop.id) is not None
    assert len(db.session.scalars(sa.select(ProductVariant)).all()) == 1


def test_late_uninstall_does_not_wipe_a_reinstall(app_ctx, enqueued):
    shop_id = install_shop(DOMAIN, _response(1)).id
    uninstall_shop(shop_id, not_after=datetime.now(UTC) - timedelta(minutes=5))
    assert db.session.get(Shop, shop_id) is not None


def test_reinstall_of_a_shop_marked_uninstalled_starts_clean(app_ctx, enqueued):
    shop = install_shop(DOMAIN, _response(1))
    _add_variant(shop.id)
    shop.uninstalled_at = datetime.now(UTC)
    shop.settings = {"recommendation_limit": 1}
    db.session.commit()
    again = install_shop(DOMAIN, _response(2))
    assert again.id == shop.id and again.is_installed and again.settings == {}
    assert db.session.scalars(sa.select(ProductVariant).where(ProductVariant.shop_id == shop.id)).all() == []
    assert len(enqueued) == 2


def test_reinstall_after_uninstall_works_by_token_exchange(app, fake_shopify, enqueued):
    from posai_app.auth.decorators import authenticate_request, current_shop

    headers = {"Authorization": f"Bearer {make_session_token(app.config, DOMAIN)}"}
    with app.test_request_context("/api/x", headers=headers):
        shop_id = authenticate_request()
        _add_variant(shop_id)
        uninstall_shop(shop_id)
    with app.test_request_context("/api/x", headers=headers):
        authenticate_request()
        reinstalled = current_shop()
        assert reinstalled.is_installed and reinstalled.settings == {}  # (SQLite may reuse the id)
        assert db.session.scalars(sa.select(ProductVariant)).all() == []
    assert len(fake_shopify.grant_requests("token_exchange")) == 2 and len(enqueued) == 2


def test_tokens_are_never_stored_or_logged_in_clear_text(app, fake_shopify, enqueued, caplog):
    caplog.set_level(logging.DEBUG)
    session_token = make_session_token(app.config, DOMAIN)
    # Install by token exchange, then force a refresh: four live secrets pass through the app.
    with app.test_request_context("/api/x", headers={"Authorization": f"Bearer {session_token}"}):
        from posai_app.auth.decorators import authenticate_request
        from posai_app.auth.tokens import refresh_access_token

        shop_id = authenticate_request()
        first = fake_shopify.grants[DOMAIN]
        refresh_access_token(shop_id)
    second = fake_shopify.grants[DOMAIN]
    secrets = [first.access_token, first.refresh_token, second.access_token, second.refresh_token]
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT * FROM shops")).all()
        stored = repr([tuple(row) for row in rows])
        shop = db.session.get(Shop, shop_id)
        assert shop.access_token == second.access_token  # decrypts to the live token
    assert "shpat_" not in stored and "shprt_" not in stored
    for secret in secrets:
        assert secret not in stored
        assert secret not in caplog.text
    assert session_token not in caplog.text
    assert app.config["SHOPIFY_API_SECRET"] not in caplog.text
    assert "installed shop" in caplog.text  # logging did happen

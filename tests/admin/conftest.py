"""Fixtures for the admin page: a stocked shop, a trained shop, htmx headers."""

from __future__ import annotations

import pytest

from posai_app.extensions import db
from tests.admin import shopdata


@pytest.fixture(autouse=True)
def _fresh_serving_cache(app):
    """The admin page caches per shop id in-process; ids restart between tests."""
    from posai_app.cache_signals import forget
    from posai_app.queue import wait_for_inline_jobs

    forget(app=app)
    yield
    wait_for_inline_jobs()  # no job thread may outlive its test's data
    forget(app=app)


@pytest.fixture
def stocked_shop(app, shop):
    """The `shop` with a catalog and a few dozen orders (not trained)."""
    with app.app_context():
        shopdata.add_catalog(shop.id)
        shopdata.add_orders(shop.id)
        db.session.commit()
    return shop


@pytest.fixture
def trained_shop(app, stocked_shop):
    """The stocked shop after one real train job."""
    from posai_app.training.jobs import train_shop

    with app.app_context():
        train_shop(stocked_shop.id, "test")
        db.session.remove()
    return stocked_shop


@pytest.fixture
def hx(auth_headers):
    """Headers of an htmx request carrying a session token for the shop."""

    def _headers(shop, **extra) -> dict[str, str]:
        return {**auth_headers(shop), "HX-Request": "true", **extra}

    return _headers


@pytest.fixture
def reported_shop(app, stocked_shop):
    """The stocked shop with a hand-made index and two successful evaluation runs (no engine needed)."""
    from datetime import UTC, datetime, timedelta

    with app.app_context():
        now = datetime.now(UTC)
        older = shopdata.report(scale=0.8)
        shopdata.add_run(stocked_shop.id, started_at=now - timedelta(days=2), results=older)
        shopdata.add_run(stocked_shop.id, started_at=now - timedelta(hours=1))
        shopdata.add_index(stocked_shop.id)
        db.session.commit()
    return stocked_shop

"""Auth fixtures: the fake OAuth server over a real socket, the app pointed at it, recorded enqueues."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.fakes.oauth_server import FakeShopifyOAuth
from tests.helpers import TEST_API_KEY, TEST_API_SECRET


@pytest.fixture(scope="session")
def _oauth_server() -> Iterator[FakeShopifyOAuth]:
    server = FakeShopifyOAuth(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def fake_shopify(_oauth_server, app, monkeypatch) -> FakeShopifyOAuth:
    """The fake, emptied, with the session app's SHOPIFY_ADMIN_BASE_URL pointing at it."""
    _oauth_server.reset()
    monkeypatch.setitem(app.config, "SHOPIFY_ADMIN_BASE_URL", _oauth_server.base_url)
    return _oauth_server


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[tuple, dict]]:
    """Every enqueue of the sync job, recorded instead of run."""
    calls: list[tuple[tuple, dict]] = []

    def _record(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return kwargs.get("job_id") or "recorded"

    monkeypatch.setattr("posai_app.ingest.jobs.enqueue", _record)
    return calls


@pytest.fixture
def seed_shop(app, fake_shopify) -> Callable[..., int]:
    """seed_shop(domain, expires_in=3600) -> shop id, with an expiring token pair the fake knows."""

    def _seed(domain: str = "alpha-shop.myshopify.com", *, expires_in: int = 3600, **fields: Any) -> int:
        from posai_app.extensions import db
        from posai_app.models import Shop

        grant = fake_shopify.issue(domain)
        now = datetime.now(UTC)
        with app.app_context():
            shop = Shop(
                domain=domain,
                access_token=grant.access_token,
                access_token_expires_at=now + timedelta(seconds=expires_in),
                refresh_token=grant.refresh_token,
                refresh_token_expires_at=now + timedelta(days=90),
                scopes=grant.scope,
                installed_at=now,
                settings={},
            )
            for name, value in fields.items():
                setattr(shop, name, value)
            db.session.add(shop)
            db.session.commit()
            return shop.id

    return _seed


def random_domain() -> str:
    return f"shop-{secrets.token_hex(4)}.myshopify.com"

"""Auth fixtures: recorded enqueues and seeded shops (the fake Shopify's OAuth is `fake_shopify`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[tuple, dict]]:
    """Every enqueue of the sync job, recorded instead of run."""
    calls: list[tuple[tuple, dict]] = []

    def _record(*args: Any, **kwargs: Any) -> str:
        calls.append((args, kwargs))
        return kwargs.get("job_id") or "recorded"

    monkeypatch.setattr("posai_app.ingest.sync.enqueue", _record)
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

"""Pytest fixtures around the fake Shopify, registered for every test by tests/conftest.py (pytest_plugins).

`fake_server` is one FakeShopify per session (Admin API, bulk files and OAuth on one socket);
`fake` is it for an Admin API test (Shopify's schema loaded, the app pointed at it),
`fake_shopify` its OAuth part for an auth test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeshopify.oauth import FakeShopifyOAuth
from tests.fakeshopify.server import FakeShopify


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeShopify]:
    server = FakeShopify().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server, app, monkeypatch) -> Iterator[FakeShopify]:
    """The running fake, emptied, with the app pointed at it and fast retry/poll timings."""
    fake_server.load_schema()  # skips the test when Shopify's published schema is not installed
    fake_server.reset()
    fake_server.bucket_size = 2000.0
    fake_server.restore_rate = 100.0
    fake_server.bulk_polls = 1
    monkeypatch.setitem(app.config, "SHOPIFY_ADMIN_BASE_URL", fake_server.admin_base_url)
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "SHOPIFY_CLIENT_BACKOFF_BASE", 0.01)
    yield fake_server
    fake_server.reset()


@pytest.fixture
def fake_shopify(fake_server, app, monkeypatch) -> Iterator[FakeShopifyOAuth]:
    """The fake's OAuth endpoints, emptied, with the session app's SHOPIFY_ADMIN_BASE_URL pointing at them."""
    fake_server.oauth.reset()
    monkeypatch.setitem(app.config, "SHOPIFY_ADMIN_BASE_URL", fake_server.admin_base_url)
    yield fake_server.oauth
    fake_server.oauth.reset()

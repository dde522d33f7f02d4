"""Pytest fixtures around the fake Shopify (imported by the ingest and webhook test packages)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeshopify.server import FakeShopify


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeShopify]:
    server = FakeShopify().start()
    yield server
    server.stop()


@pytest.fixture
def fake(fake_server, app, monkeypatch) -> Iterator[FakeShopify]:
    """The running fake, emptied, with the app pointed at it and fast retry/poll timings."""
    fake_server.reset()
    fake_server.bucket_size = 2000.0
    fake_server.restore_rate = 100.0
    fake_server.bulk_polls = 1
    monkeypatch.setitem(app.config, "SHOPIFY_ADMIN_BASE_URL", fake_server.admin_base_url)
    monkeypatch.setitem(app.config, "SHOPIFY_BULK_POLL_SECONDS", 0.01)
    monkeypatch.setitem(app.config, "SHOPIFY_CLIENT_BACKOFF_BASE", 0.01)
    yield fake_server
    fake_server.reset()

"""Deadlines: with PostgreSQL or Redis black-holed (a port that accepts and never answers)
or closed, every endpoint still answers in time, with a JSON error naming the dependency."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.fakeshopify.server import webhook_headers
from tests.helpers import TEST_SETTINGS, make_session_token

# Shopify gives a webhook 5 s and POS requests are abandoned after a few seconds.
WEBHOOK_DEADLINE = 4.5
REQUEST_DEADLINE = 4.5


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _app(tmp_path, **settings):
    from posai_app import create_app

    overrides = {**TEST_SETTINGS, "DATABASE_CONNECT_TIMEOUT": 2, **settings}
    app = create_app(overrides)
    app.instance_path = str(tmp_path)
    return app


def _requests(app):
    token = make_session_token(app.config, "alpha-shop.myshopify.com")
    bearer = {"Authorization": f"Bearer {token}"}
    body = json.dumps({"id": 1, "line_items": []}).encode()
    webhook = webhook_headers(
        "orders/create", "alpha-shop.myshopify.com", body, app.config["SHOPIFY_API_SECRET"]
    )
    return [
        ("GET", "/readyz", {}, None, REQUEST_DEADLINE),
        ("POST", "/api/recommendations", bearer, {"cartVariantIds": ["1"]}, REQUEST_DEADLINE),
        ("POST", "/webhooks", webhook, body, WEBHOOK_DEADLINE),
        ("GET", "/app", {**bearer, "HX-Request": "true"}, None, REQUEST_DEADLINE),
    ]


def _answers_in_time(app):
    """(path, response) of every endpoint, each checked to answer within its deadline."""
    client = app.test_client()
    for method, path, headers, body, deadline in _requests(app):
        started = time.monotonic()
        if isinstance(body, bytes):
            response = client.open(path, method=method, headers=headers, data=body)
        else:
            response = client.open(path, method=method, headers=headers, json=body)
        took = time.monotonic() - started
        assert took < deadline, f"{path} took {took:.1f}s"
        yield path, response


def _check(app, dependency: str) -> None:
    assert app.test_client().get("/healthz").status_code == 200
    for path, response in _answers_in_time(app):
        assert response.status_code == 503, (
            path,
            response.status_code,
            response.get_data(as_text=True)[:300],
        )
        if path != "/readyz" and response.is_json:
            assert response.json["error"]["details"]["dependency"] == dependency, path


@pytest.mark.postgres
def test_postgres_black_holed(tmp_path, black_hole):
    _check(_app(tmp_path, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{black_hole}/x"), "database")


@pytest.mark.postgres
def test_postgres_port_closed(tmp_path, closed_port):
    _check(
        _app(tmp_path, DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/x"), "database"
    )


def _migrated_sqlite_app(tmp_path, **settings):
    from flask_migrate import upgrade

    from posai_app.extensions import db
    from posai_app.models import Shop

    app = _app(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'posai.db'}", **settings)
    with app.app_context():
        upgrade()
        shop = Shop(
            domain="alpha-shop.myshopify.com",
            access_token="shpat_deadline",
            refresh_token="shprt_deadline",
            scopes="read_products,read_orders,read_all_orders,read_inventory",
            installed_at=datetime.now(UTC),
            settings={},
        )
        db.session.add(shop)
        db.session.commit()
    return app


@pytest.mark.parametrize("kind", ["black_hole", "closed_port"])
def test_redis_unavailable(tmp_path, request, kind):
    port = request.getfixturevalue(kind)
    app = _migrated_sqlite_app(tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0")
    for path, response in _answers_in_time(app):
        assert response.status_code < 500 or response.status_code == 503, (path, response.status_code)
        if path in ("/readyz", "/webhooks"):
            assert response.status_code == 503, (path, response.get_data(as_text=True)[:300])
        if path == "/api/recommendations":
            assert response.status_code == 200  # served from the database, Redis is optional here


@pytest.fixture
def locked_shops(app, requires_postgres) -> Iterator[None]:
    """A hung database as a request sees it: another session holds an exclusive lock on `shops`."""
    import sqlalchemy as sa

    from posai_app.extensions import db

    with app.app_context():
        engine = sa.create_engine(db.engine.url)
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(sa.text("LOCK TABLE shops IN ACCESS EXCLUSIVE MODE"))
    try:
        yield
    finally:
        transaction.rollback()
        connection.close()
        engine.dispose()


def test_a_webhook_gives_up_on_a_hung_database_well_within_shopifys_five_seconds(
    app, client, shop, locked_shops
):
    body = json.dumps({"id": 1, "updated_at": datetime.now(UTC).isoformat()}).encode()
    headers = webhook_headers("products/update", shop.domain, body, TEST_SETTINGS["SHOPIFY_API_SECRET"])
    started = time.monotonic()
    response = client.post("/webhooks", data=body, headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.get_json()["error"]["details"]["dependency"] == "database"
    assert elapsed < WEBHOOK_DEADLINE, elapsed


def test_a_pos_request_gives_up_on_a_hung_database_within_its_budget(app, client, shop, locked_shops):
    from posai_app import cache_signals

    cache_signals.forget(app=app)  # a cold process: the shop must be read from the database
    token = make_session_token(app.config, shop.domain)
    started = time.monotonic()
    response = client.post(
        "/api/recommendations",
        json={"cartVariantIds": ["1"]},
        headers={"Authorization": f"Bearer {token}"},
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.get_json()["error"]["details"]["dependency"] == "database"
    assert elapsed < 3.0, elapsed

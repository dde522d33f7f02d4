"""Delivery receipts on PostgreSQL (posai_app.webhooks.receipts): one autocommit round trip, the
webhook budget on every connection, and a connection the server dropped replaced, not a 5xx.

A request records a receipt only without Redis (with Redis the inbox's drain records it, in the
delivery's own transaction: tests/webhooks/test_inbox.py), so these tests run an app without it."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from posai_app.demo import payloads as shopify_shape
from posai_app.extensions import db
from posai_app.models import WebhookDelivery
from posai_app.webhooks import handlers, receipts
from tests.helpers import TEST_API_SECRET
from tests.webhooks import examples

pytestmark = pytest.mark.usefixtures("requires_postgres")


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


@pytest.fixture
def no_redis_app(make_app):
    """An app on the run's database without Redis: its requests record receipts themselves."""
    return make_app(REDIS_URL=None)


@pytest.fixture
def client(no_redis_app):
    return no_redis_app.test_client()


def _post(client, fake, shop, webhook_id):
    payload = examples.order_from_shape(next(shopify_shape.iter_order_payloads()))
    body, headers = fake.webhook(
        "orders/create", shop.domain, payload, TEST_API_SECRET, webhook_id=webhook_id
    )
    return client.post("/webhooks", data=body, headers=headers)


def _statements(app) -> list[str]:
    """Record the SQL the receipts engine sends (after it exists)."""
    seen: list[str] = []
    with app.test_request_context():
        engine = receipts._engine()
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_a_receipt_is_one_statement_with_the_webhook_budget(app, no_redis_app, client, fake, shop):
    """No ping, no BEGIN/SET LOCAL/COMMIT: the INSERT alone, on a connection whose
    statement_timeout is the webhook blueprint's (3 s), not the web default."""
    assert _post(client, fake, shop, "warm-1").status_code == 200  # the shop snapshot is warm
    seen = _statements(no_redis_app)
    assert _post(client, fake, shop, "receipt-1").get_json() == {"status": "queued"}
    assert _post(client, fake, shop, "receipt-1").get_json() == {"status": "duplicate"}
    assert [s.split()[0] for s in seen] == ["INSERT", "INSERT"]
    with no_redis_app.test_request_context(), receipts._engine().connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "3s"
        assert conn.execute(sa.text("SHOW transaction_isolation")).scalar()  # a live connection
    with app.app_context():
        stored = db.session.scalars(
            sa.select(WebhookDelivery.webhook_id).where(WebhookDelivery.shop_id == shop.id)
        ).all()
    assert sorted(stored) == ["receipt-1", "warm-1"]


def test_a_connection_the_server_dropped_is_replaced(app, client, fake, shop):
    """PostgreSQL ends the pooled connections (a restart, a failover): the next delivery is stored
    on a fresh one and queued, not answered 5xx (Shopify would retry it, but needlessly)."""
    assert _post(client, fake, shop, "before-drop").status_code == 200
    with app.app_context():
        killed = db.session.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND application_name = '' AND state = 'idle'"
            )
        ).scalar()
        db.session.commit()
    assert killed >= 1
    time.sleep(0.05)  # the terminations are asynchronous
    response = _post(client, fake, shop, "after-drop")
    assert response.status_code == 200 and response.get_json() == {"status": "queued"}
    with app.app_context():
        assert db.session.scalar(
            sa.select(WebhookDelivery.status).where(
                WebhookDelivery.shop_id == shop.id, WebhookDelivery.webhook_id == "after-drop"
            )
        )

"""Webhook delivery receipts: the `webhook_deliveries` row that dedupes Shopify's redeliveries.

Recording a receipt is the one SQL statement a webhook request runs, at Black-Friday rates
(docs/ingestion.md, "Webhooks at peak rates"). Through the request's ORM session it cost five
PostgreSQL round trips: the pool's liveness ping, BEGIN, `SET LOCAL statement_timeout`, the
INSERT and COMMIT. On PostgreSQL a receipt therefore goes through an engine of its own, built
once per process: autocommit (the INSERT is its own transaction), the webhook blueprint's
statement budget set once per connection instead of once per transaction, and no ping on
checkout. A pooled connection the server has dropped (a restart, a failover) fails its first
statement; SQLAlchemy invalidates it and the statement is run once more on a fresh connection.
SQLite (development, the demo, the embedded default) keeps the session path.

Only `record` touches the table from a request, and only without Redis: with Redis a
request puts the delivery in the inbox (`posai_app.webhooks.inbox`), whose drain records the
receipt with `record_in_transaction`, in the transaction that applies the delivery.
`posai_app.webhooks.handlers` marks receipts processed or failed from the job.
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
from flask import current_app

from posai_app import request_budget
from posai_app.extensions import db, insert
from posai_app.models import WebhookDelivery, utcnow

_ENGINE_KEY = "posai_webhook_receipts_engine"
_CREATING = threading.Lock()


def record(shop_id: int, webhook_id: str, topic: str) -> str | None:
    """Store the receipt; its key (the stored webhook id), or None when this webhook id was already
    recorded for the shop (a redelivery). IntegrityError: the shop row is gone (shop/redact)."""
    values = _values(shop_id, webhook_id, topic, utcnow())
    engine = _engine()
    if engine is None:
        key = db.session.connection().execute(_statement(), values).scalar()
        db.session.commit()
        return key
    return _run(engine, lambda conn: conn.execute(_statement(), values).scalar())


def record_in_transaction(
    shop_id: int,
    webhook_id: str,
    topic: str,
    received_at,
    *,
    status: str = "received",
    error: str | None = None,
) -> str | None:
    """`record` inside the session's transaction, not committed (the inbox's drain commits it
    with the delivery's writes). None for a webhook id already recorded; IntegrityError: the shop
    row is gone."""
    values = _values(shop_id, webhook_id, topic, received_at, status, error)
    return db.session.connection().execute(_statement(), values).scalar()


def record_many_in_transaction(shop_id: int, deliveries: list[tuple[str, str, object]]) -> list[str]:
    """`record_in_transaction` for several (webhook id, topic, received at) of one shop in one
    statement; the keys of those not recorded before."""
    if not deliveries:
        return []
    values = [
        _values(shop_id, webhook_id, topic, received_at) for webhook_id, topic, received_at in deliveries
    ]
    return list(db.session.connection().execute(_statement(), values).scalars())


def _values(shop_id: int, webhook_id: str, topic: str, received_at, status="received", error=None) -> dict:
    """One receipt's row, cut to the columns' lengths."""
    return {
        "shop_id": shop_id,
        "webhook_id": webhook_id[:255],
        "topic": topic[:128],
        "received_at": received_at,
        "status": status,
        "error": error,
    }


def _run(engine: sa.Engine, statement):
    for attempt in (1, 2):
        try:
            with engine.connect() as conn:
                return statement(conn)
        except sa.exc.DBAPIError as exc:
            # A pooled connection the server dropped: SQLAlchemy has invalidated it (and, on a
            # restart, every connection of the pool); the second attempt gets a new one.
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")


def _engine() -> sa.Engine | None:
    """This app's receipts engine (PostgreSQL), made on first use in each process; None on SQLite."""
    app = current_app._get_current_object()
    engine = app.extensions.get(_ENGINE_KEY)
    if engine is None and db.engine.dialect.name == "postgresql":
        # The app engine's options (config.engine_options made them: deadlines, pool timeout)
        # without its ping, and the webhook blueprint's budget as the connection's timeout.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.pop("pool_pre_ping", None)
        connect_args = dict(options.get("connect_args") or {})
        budget = request_budget.budget_ms(app.config, "webhooks")
        if budget:
            connect_args["options"] = f"-c statement_timeout={budget}"
        options["connect_args"] = connect_args
        with _CREATING:  # two request threads' first receipts must not make two pools
            engine = app.extensions.get(_ENGINE_KEY)
            if engine is None:
                engine = sa.create_engine(
                    db.engine.url,
                    isolation_level="AUTOCOMMIT",
                    # One connection per request thread is all a process uses (docs/operations.md
                    # counts them in the connection budget); overflow covers bursts.
                    pool_size=4,
                    max_overflow=4,
                    pool_reset_on_return=None,  # autocommit: never a transaction to roll back
                    **options,
                )
                app.extensions[_ENGINE_KEY] = engine
    return engine


def dispose(app) -> None:
    """Close the receipts engine's connections (tests and app teardown)."""
    engine = app.extensions.pop(_ENGINE_KEY, None)
    if engine is not None:
        engine.dispose()


_STATEMENTS: dict[str, sa.Insert] = {}


def _statement() -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING RETURNING webhook_id, built once per dialect: each
    delivery only binds its values (the compiled form is SQLAlchemy's cached one)."""
    dialect = db.engine.dialect.name
    stmt = _STATEMENTS.get(dialect)
    if stmt is None:
        table = WebhookDelivery.__table__
        stmt = (
            insert(table)
            .values(
                shop_id=sa.bindparam("shop_id"),
                webhook_id=sa.bindparam("webhook_id"),
                topic=sa.bindparam("topic"),
                received_at=sa.bindparam("received_at"),
                status=sa.bindparam("status"),
                error=sa.bindparam("error"),
            )
            .on_conflict_do_nothing(index_elements=["shop_id", "webhook_id"])
            .returning(table.c.webhook_id)
        )
        _STATEMENTS[dialect] = stmt
    return stmt

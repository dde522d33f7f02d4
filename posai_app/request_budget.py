"""Per-request database deadlines: a webhook or POS request gives PostgreSQL less time than a page.

Every connection gets DATABASE_STATEMENT_TIMEOUT (10 s on the web, config.engine_options).
That is too long for two callers: Shopify abandons a webhook after 5 s, and a cashier's POS
request after a few. Their blueprints name a shorter budget per statement
(REQUEST_STATEMENT_TIMEOUTS, seconds); whenever such a request begins a database transaction,
`SET LOCAL statement_timeout` applies it to that transaction only. A warm POS request runs no
SQL, so it pays nothing. A statement past its budget raises OperationalError, which the error
handlers (posai_app/errors.py) turn into a 503 naming the database.
"""

from __future__ import annotations

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

DEFAULT_TIMEOUTS = {"webhooks": 3.0, "api": 2.0}  # seconds per statement, by blueprint


def init_app(app: Flask) -> None:
    app.config.setdefault("REQUEST_STATEMENT_TIMEOUTS", dict(DEFAULT_TIMEOUTS))
    app.before_request(_choose_budget)
    if not event.contains(Session, "after_begin", _apply_budget):
        event.listen(Session, "after_begin", _apply_budget)


def budget_ms(config, blueprint: str) -> int | None:
    """The blueprint's statement budget in milliseconds (None: the connection's default)."""
    seconds = (config.get("REQUEST_STATEMENT_TIMEOUTS") or {}).get(blueprint)
    return max(1, round(float(seconds) * 1000)) if seconds else None


def _choose_budget() -> None:
    budget = budget_ms(current_app.config, request.blueprint or "")
    if budget and str(current_app.config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        g.posai_statement_budget_ms = budget


def _apply_budget(session, transaction, connection) -> None:
    if not has_request_context():
        return
    budget = g.get("posai_statement_budget_ms")
    if budget:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(budget)}")

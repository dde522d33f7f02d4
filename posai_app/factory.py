"""The Flask app factory: config, extensions, blueprints, error handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.sessions import SessionInterface

from posai_app import binary_results, cache_signals, config, metrics, request_budget
from posai_app.errors import register_error_handlers
from posai_app.extensions import db, migrate
from posai_app.queue import init_queue


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask("posai_app", instance_relative_config=True)
    app.config.from_object(config.BaseConfig)
    app.config.update(config.from_env())
    app.config.update(overrides or {})
    config.finalize(app.config, app.instance_path)
    app.session_interface = _NoSessions()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from posai_app import models  # noqa: F401  (register models before migrate binds)

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True)
    _enable_sqlite_foreign_keys(app)
    init_queue(app)
    cache_signals.init_app(app)
    request_budget.init_app(app)
    binary_results.init()
    metrics.init_app(app)
    register_error_handlers(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


class _NoSessions(SessionInterface):
    """POSAI keeps no Flask session: the admin and the POS API authenticate with Shopify's session
    tokens, and OAuth's state is a cookie of its own (posai_app.auth). Flask's default interface
    built a signing serializer on every request, webhooks and POS calls included, for a cookie
    that never exists. `flask.session` is a NullSession here: writing to it raises."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        return None


def _migrations_dir() -> str:
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


def _enable_sqlite_foreign_keys(app: Flask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():

        @sa.event.listens_for(db.engine, "connect")
        def _fk_on(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()


def _register_blueprints(app: Flask) -> None:
    from posai_app.admin.views import bp as admin_bp
    from posai_app.api.views import api_bp
    from posai_app.auth.views import bp as auth_bp
    from posai_app.health import bp as health_bp
    from posai_app.impact.views import bp as impact_bp
    from posai_app.webhooks.views import bp as webhooks_bp

    for blueprint in (health_bp, auth_bp, webhooks_bp, api_bp, impact_bp, admin_bp):
        app.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    """Every feature's commands on app.cli (the engine's too, so `flask --app posai_app` has them)."""
    from posai_app import ops_cli
    from posai_app.auth import cli as auth_cli
    from posai_app.demo import cli as demo_cli
    from posai_app.ingest import cli as ingest_cli
    from posai_app.reco import cli as engine_cli
    from posai_app.training import cli as training_cli

    for module in (engine_cli, auth_cli, ingest_cli, training_cli, demo_cli, ops_cli):
        for command in module.commands:
            app.cli.add_command(command)

"""The Flask app factory: config, extensions, blueprints, error handlers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from flask import Flask

from posai_app import cache_signals, config
from posai_app.errors import register_error_handlers
from posai_app.extensions import db, migrate
from posai_app.queue import init_queue


def create_app(overrides: Mapping[str, Any] | None = None) -> Flask:
    app = Flask("posai_app", instance_relative_config=True)
    app.config.from_object(config.BaseConfig)
    app.config.update(config.from_env())
    app.config.update(overrides or {})
    config.finalize(app.config, app.instance_path)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from posai_app import models  # noqa: F401  (register models before migrate binds)

    db.init_app(app)
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True)
    _enable_sqlite_foreign_keys(app)
    init_queue(app)
    cache_signals.init_app(app)
    register_error_handlers(app)
    _register_blueprints(app)
    _register_cli(app)
    return app


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
    import importlib

    from posai_app.health import bp as health_bp

    app.register_blueprint(health_bp)
    # Feature blueprints: each package exposes `bp` (and optionally `api_bp`).
    for name in ("auth", "webhooks", "api", "admin"):
        try:
            module = importlib.import_module(f"posai_app.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"posai_app.{name}":
                raise  # a broken import inside an existing feature must not be hidden
            continue
        for attr in ("bp", "api_bp"):
            if (blueprint := getattr(module, attr, None)) is not None:
                app.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    from posai_app.cli import register_app_commands

    register_app_commands(app)

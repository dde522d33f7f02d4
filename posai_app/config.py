"""Configuration: defaults, environment reading and the required-settings check.

Environments differ by values, never by code paths. `from_env()` is called by the
factory (never at import time) so tests and the CLI can set the environment first.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.fernet import Fernet

from posai_app.shopify.version import API_VERSION

log = logging.getLogger(__name__)

# Fixed, public development values: used only outside production, and announced.
DEV_API_KEY = "posai-dev-api-key"
DEV_API_SECRET = "posai-dev-api-secret-0123456789abcdef-not-for-production"  # noqa: S105

REQUIRED_IN_PRODUCTION = (
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "SHOPIFY_API_KEY",
    "SHOPIFY_API_SECRET",
    "APP_URL",
    "POSAI_ENCRYPTION_KEYS",
)


class ConfigError(RuntimeError):
    """Raised when the app cannot start with the configuration it was given."""


class BaseConfig:
    POSAI_ENV = "development"
    POSAI_DEMO = False
    SHOPIFY_API_VERSION = API_VERSION  # posai_app/shopify/version.py, the one definition
    SHOPIFY_SCOPES = "read_products,read_orders,read_all_orders,read_inventory"
    # Test-only: tests point it at the local fake through create_app's overrides. It is never
    # read from the environment, and production refuses it at start-up.
    SHOPIFY_ADMIN_BASE_URL = None  # e.g. "http://127.0.0.1:9999/{shop}" -> replaces "https://{shop}"
    RQ_QUEUES = ("high", "ingest", "train", "default", "low")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Deadlines: a database that accepts connections but never answers must not hold a
    # request (or gunicorn's worker) for 30 s. Web processes keep statements short; the RQ
    # worker raises the statement limit for bulk upserts and training reads (worker.py).
    DATABASE_CONNECT_TIMEOUT = 3  # seconds, connection set-up (libpq connect_timeout)
    DATABASE_STATEMENT_TIMEOUT = 10  # seconds per statement (PostgreSQL statement_timeout); 0 = none
    DATABASE_POOL_TIMEOUT = 5  # seconds to wait for a pooled connection
    # PostgreSQL: migration 0013 hash-partitions every shop-owned table by shop_id into this many
    # partitions (0: plain tables). Read when that migration runs; docs/operations.md says why.
    DB_HASH_PARTITIONS = 16
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024
    JSON_SORT_KEYS = False
    # The webhook inbox (posai_app/webhooks/inbox.py; with Redis only): seconds a redelivery is
    # answered "duplicate" from Redis (after that the database's receipt dedupes it), drain jobs
    # at once (at most 16), entries per batch (at most 1,000), seconds before a drain hands on.
    WEBHOOK_SEEN_SECONDS = 3600
    WEBHOOK_DRAINS = 4
    WEBHOOK_DRAIN_BATCH = 100
    WEBHOOK_DRAIN_SECONDS = 30


# Upper bounds of the webhook inbox's settings (posai_app/webhooks/inbox.py says why).
WEBHOOK_SETTING_LIMITS = {"WEBHOOK_DRAIN_BATCH": 1000, "WEBHOOK_DRAINS": 16}

# What the RQ worker and the `posai` CLI use instead: their statements are long by design
# (bulk upserts, training reads), and RQ's job timeout bounds a job as a whole.
JOB_SETTINGS = {"DATABASE_STATEMENT_TIMEOUT": 600}


def normalize_database_url(url: str) -> str:
    """Map the URL schemes Fly and Heroku hand out onto SQLAlchemy's psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


def from_env() -> dict[str, Any]:
    """Read every setting that varies by environment."""
    values: dict[str, Any] = {}
    for name in (
        "SECRET_KEY",
        "REDIS_URL",
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "SHOPIFY_API_SECRET_OLD",
        "SHOPIFY_API_VERSION",
        "APP_URL",
        "POSAI_ENV",
        "POSAI_METRICS_TOKEN",
    ):
        if (value := _env(name)) is not None:
            values[name] = value
    if (url := _env("DATABASE_URL")) is not None:
        values["DATABASE_URL"] = url
    if (keys := _env("POSAI_ENCRYPTION_KEYS")) is not None:
        values["POSAI_ENCRYPTION_KEYS"] = keys
    if (hour := _env("POSAI_NIGHTLY_HOUR_UTC")) is not None:
        values["POSAI_NIGHTLY_HOUR_UTC"] = int(hour)
    for name in (  # numbers: seconds, or megabytes for SERVING_CACHE_MAX_MB
        "SERVING_CACHE_MAX_MB",
        "SERVING_CACHE_CHECK_INTERVAL",
        "SERVING_CACHE_MAX_AGE",
        "DATABASE_CONNECT_TIMEOUT",
        "DATABASE_STATEMENT_TIMEOUT",
        "DATABASE_POOL_TIMEOUT",
        "REDIS_CONNECT_TIMEOUT",
        "REDIS_SOCKET_TIMEOUT",
    ):
        if (number := _env(name)) is not None:
            try:
                values[name] = float(number)
            except ValueError:
                raise ConfigError(f"{name} must be a number, not {number!r}") from None
    for name in ("WEBHOOK_SEEN_SECONDS", "WEBHOOK_DRAINS", "WEBHOOK_DRAIN_BATCH", "WEBHOOK_DRAIN_SECONDS"):
        if (number := _env(name)) is not None:
            most = WEBHOOK_SETTING_LIMITS.get(name, 10**9)
            if not number.isascii() or not number.isdigit() or not 1 <= int(number) <= most:
                raise ConfigError(f"{name} must be a whole number from 1 to {most}, not {number!r}")
            values[name] = int(number)
    if (partitions := _env("POSAI_DB_HASH_PARTITIONS")) is not None:
        if not partitions.isascii() or not partitions.isdigit() or not 0 <= int(partitions) <= 1024:
            raise ConfigError(
                f"POSAI_DB_HASH_PARTITIONS must be a whole number from 0 to 1024, not {partitions!r}"
            )
        values["DB_HASH_PARTITIONS"] = int(partitions)
    if (demo := _env("POSAI_DEMO")) is not None:
        values["POSAI_DEMO"] = demo.lower() in ("1", "true", "yes", "on")
    return values


def finalize(config: dict[str, Any], instance_path: str) -> None:
    """Check required settings, fill development defaults and derive dependent values, in place."""
    production = config.get("POSAI_ENV") == "production"
    if production:
        missing = [name for name in REQUIRED_IN_PRODUCTION if not config.get(name)]
        if missing:
            raise ConfigError("POSAI_ENV=production but these settings are missing: " + ", ".join(missing))
        if config.get("POSAI_DEMO"):
            raise ConfigError("POSAI_DEMO cannot be enabled when POSAI_ENV=production")
        if config.get("SHOPIFY_ADMIN_BASE_URL"):
            # A test-only setting: set by mistake, the client secret, refresh tokens and every
            # Admin API call would go to that host instead of the shop's.
            raise ConfigError(
                "SHOPIFY_ADMIN_BASE_URL sends Shopify calls to a test fake; unset it in production"
            )
    generated = []
    if not config.get("SECRET_KEY"):
        # Kept in the instance folder so every gunicorn worker and restart agrees on it.
        config["SECRET_KEY"] = _dev_secret(instance_path, "dev-secret-key", lambda: secrets.token_hex(32))
        generated.append("SECRET_KEY")
    if not config.get("SHOPIFY_API_KEY"):
        config["SHOPIFY_API_KEY"] = DEV_API_KEY
        generated.append("SHOPIFY_API_KEY")
    if not config.get("SHOPIFY_API_SECRET"):
        config["SHOPIFY_API_SECRET"] = DEV_API_SECRET
        generated.append("SHOPIFY_API_SECRET")
    if not config.get("POSAI_ENCRYPTION_KEYS"):
        config["POSAI_ENCRYPTION_KEYS"] = _dev_secret(
            instance_path, "dev-encryption.key", lambda: Fernet.generate_key().decode()
        )
        generated.append("POSAI_ENCRYPTION_KEYS")
    if not config.get("APP_URL"):
        config["APP_URL"] = "http://127.0.0.1:8000"
    if not config.get("DATABASE_URL"):
        os.makedirs(instance_path, exist_ok=True)
        config["DATABASE_URL"] = "sqlite:///" + os.path.join(instance_path, "posai.db")
    config["DATABASE_URL"] = normalize_database_url(config["DATABASE_URL"])
    config["SQLALCHEMY_DATABASE_URI"] = config["DATABASE_URL"]
    config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config)
    if generated:
        log.warning("development mode: using generated or demo values for %s", ", ".join(generated))
    config["POSAI_GENERATED_SETTINGS"] = tuple(generated)


def engine_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """SQLAlchemy engine options with the configured deadlines (PostgreSQL enforces them)."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return options
    connect_timeout = max(1, round(float(config.get("DATABASE_CONNECT_TIMEOUT") or 3)))
    statement_ms = round(float(config.get("DATABASE_STATEMENT_TIMEOUT") or 0) * 1000)
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", connect_timeout)
    # An established connection whose server stops answering: give up on unacknowledged
    # data after the connect deadline too (Linux TCP_USER_TIMEOUT, libpq tcp_user_timeout).
    connect_args.setdefault("tcp_user_timeout", connect_timeout * 1000)
    if statement_ms:
        connect_args.setdefault("options", f"-c statement_timeout={statement_ms}")
    options["connect_args"] = connect_args
    options.setdefault("pool_timeout", float(config.get("DATABASE_POOL_TIMEOUT") or 5))
    return options


def _dev_secret(instance_path: str, name: str, generate: Callable[[], str]) -> str:
    """A per-checkout development secret kept in the instance folder (mode 0600), made on first use."""
    path = os.path.join(instance_path, name)
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        os.makedirs(instance_path, exist_ok=True)
        value = generate()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        return value


def settings_summary(config: Mapping[str, Any]) -> str:
    """One line naming the backing services, without secrets."""
    db = str(config.get("SQLALCHEMY_DATABASE_URI", "")).split("@")[-1]
    redis = config.get("REDIS_URL")
    return f"database={db} jobs={'rq:' + redis.split('@')[-1] if redis else 'inline'}"

"""Shared fixtures: a throw-away database per run (PostgreSQL when reachable, else SQLite),
Redis on a dedicated DB number when reachable (Redis-only tests skip, saying so),
the real migrations, per-test cleanup, shops, session tokens and a job drain.

Environment: TEST_DATABASE_URL (a server URL whose database we may create/drop
beside, or "sqlite" to force SQLite), TEST_REDIS_URL (or "none"), TEST_DB_HASH_PARTITIONS
(PostgreSQL: how many hash partitions by shop_id migration 0013 makes; default the production
setting, config.BaseConfig.DB_HASH_PARTITIONS; 0 = plain tables).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_SETTINGS, make_session_token

# Fixture modules every test package may use (instead of re-importing fixtures with `noqa`).
pytest_plugins = ["tests.fakeshopify.fixtures", "tests.shop_filter"]

_BACKENDS: dict[str, str | None] = {}


def _try_postgres(server_url: str) -> str | None:
    """Create a throw-away database on the server; return its URL, or None if unreachable."""
    from posai_app.config import normalize_database_url

    server_url = normalize_database_url(server_url)
    try:
        engine = sa.create_engine(
            server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        name = f"posai_test_{os.getpid()}_{secrets.token_hex(3)}"
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
    except Exception:
        return None
    _BACKENDS["pg_server"] = server_url
    _BACKENDS["pg_name"] = name
    return str(sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False))


def _try_redis(url: str) -> str | None:
    from redis import Redis

    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:
        return None
    return url


def pytest_configure(config):
    db_env = os.environ.get("TEST_DATABASE_URL", "")
    url = None
    if db_env.lower() != "sqlite":
        url = _try_postgres(db_env or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    if url is None:
        path = os.path.join(tempfile.mkdtemp(prefix="posai-test-"), "test.db")
        url = f"sqlite:///{path}"
    _BACKENDS["database"] = url
    redis_env = os.environ.get("TEST_REDIS_URL", "")
    # A DB number per run so concurrent local runs do not flush each other's queues.
    default_redis = f"redis://127.0.0.1:6379/{1 + os.getpid() % 15}"
    _BACKENDS["redis"] = None if redis_env.lower() == "none" else _try_redis(redis_env or default_redis)


def pytest_unconfigure(config):
    if "pg_name" in _BACKENDS:
        engine = sa.create_engine(_BACKENDS["pg_server"], isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_BACKENDS["pg_name"]}" WITH (FORCE)'))
        engine.dispose()


def db_hash_partitions() -> int:
    from posai_app.config import BaseConfig

    value = os.environ.get("TEST_DB_HASH_PARTITIONS", "")
    return int(value) if value.strip() else BaseConfig.DB_HASH_PARTITIONS


def pytest_report_header(config):
    db = _BACKENDS["database"]
    shown = db.split("@")[-1] if db.startswith("postgresql") else db
    kind = "PostgreSQL" if db.startswith("postgresql") else "SQLite"
    if kind == "PostgreSQL":
        partitions = db_hash_partitions()
        kind += (
            f", every shop-owned table hash-partitioned by shop_id into {partitions}" if partitions else ""
        )
    redis = _BACKENDS["redis"] or "none reachable: Redis-only tests will be skipped, jobs run inline"
    return [f"posai test backends: database={kind} ({shown}); redis={redis}"]


def database_url() -> str:
    return _BACKENDS["database"]


def redis_url() -> str | None:
    return _BACKENDS["redis"]


def is_postgres() -> bool:
    return _BACKENDS["database"].startswith("postgresql")


@pytest.fixture(scope="session")
def app() -> Iterator:
    """The app on the run's database with the real migrations applied."""
    from flask_migrate import upgrade

    from posai_app import create_app

    application = create_app(
        {
            **TEST_SETTINGS,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url(),
            "DB_HASH_PARTITIONS": db_hash_partitions(),
        }
    )
    with application.app_context():
        upgrade()
    yield application
    from posai_app.extensions import db
    from posai_app.webhooks import receipts

    receipts.dispose(application)
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(app) -> Iterator[Callable]:
    """Another app on the same (already migrated) database, with config overrides."""
    from posai_app import create_app
    from posai_app.extensions import db

    made = []

    def _make(**overrides):
        made.append(
            create_app(
                {**TEST_SETTINGS, "DATABASE_URL": database_url(), "REDIS_URL": redis_url(), **overrides}
            )
        )
        return made[-1]

    yield _make
    from posai_app.webhooks import receipts

    for other in made:  # close their pools so no connection outlives the test
        receipts.dispose(other)
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request) -> Iterator[None]:
    """After each test that used the app: empty every table and the Redis DB."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    from posai_app.cache_signals import forget
    from posai_app.extensions import db

    forget(app=application)  # ids restart below: nothing cached may survive into the next test
    with application.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if is_postgres():
                _empty_postgres(conn, tables)
            else:
                for name in tables:
                    conn.execute(sa.text(f"DELETE FROM {name}"))
    if redis_url():
        from redis import Redis

        Redis.from_url(redis_url()).flushdb()


# A test's few rows go faster by DELETE; TRUNCATE costs a few ms per relation (new files for each
# table, partition and index: seconds on the 16-way partitioned schema), so only big tables get it.
_TRUNCATE_FROM_ROWS = 5_000


def _empty_postgres(conn, tables: list[str]) -> None:
    """Empty every table (children first; `shops` last) and restart the shop ids at 1."""
    counts = conn.execute(
        sa.text(
            " UNION ALL ".join(
                f"SELECT '{name}', (SELECT count(*) FROM "
                f"(SELECT 1 FROM {name} LIMIT {_TRUNCATE_FROM_ROWS}) AS x)"
                for name in tables
            )
        )
    ).all()
    rows = dict(counts)
    big = [name for name in tables if name != "shops" and rows[name] >= _TRUNCATE_FROM_ROWS]
    if big:
        conn.execute(sa.text(f"TRUNCATE {', '.join(big)}"))
    for name in tables:
        if rows[name] and name not in big:
            conn.execute(sa.text(f"DELETE FROM {name}"))
    conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('shops', 'id'), 1, false)"))


@pytest.fixture
def app_ctx(app) -> Iterator[None]:
    with app.app_context():
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def requires_redis() -> str:
    url = redis_url()
    if url is None:
        pytest.skip("needs Redis: none reachable at TEST_REDIS_URL / 127.0.0.1:6379")
    return url


@pytest.fixture
def requires_postgres() -> str:
    if not is_postgres():
        pytest.skip("needs PostgreSQL: none reachable at TEST_DATABASE_URL / 127.0.0.1:5432")
    return database_url()


def _add_shop(app, domain: str):
    from datetime import UTC, datetime

    from posai_app.extensions import db
    from posai_app.models import Shop

    with app.app_context():
        shop = Shop(
            domain=domain,
            access_token="shpat_" + secrets.token_hex(16),
            refresh_token="shprt_" + secrets.token_hex(16),
            scopes="read_products,read_orders,read_all_orders,read_inventory",
            installed_at=datetime.now(UTC),
            settings={},
        )
        db.session.add(shop)
        db.session.commit()
        db.session.refresh(shop)
        db.session.expunge(shop)
        return shop


@pytest.fixture
def shop(app):
    return _add_shop(app, "alpha-shop.myshopify.com")


@pytest.fixture
def other_shop(app):
    return _add_shop(app, "beta-shop.myshopify.com")


@pytest.fixture
def auth_headers(app) -> Callable:
    """auth_headers(shop) -> headers carrying a real, freshly signed session token."""

    def _headers(shop, **claims) -> dict[str, str]:
        token = make_session_token(app.config, shop.domain, **claims)
        return {"Authorization": f"Bearer {token}"}

    return _headers


@pytest.fixture
def run_jobs(app) -> Callable[[], int]:
    """Drain every RQ queue in-process (a no-op when jobs run inline without Redis)."""

    def _run() -> int:
        if redis_url() is None:
            return 0
        from rq import SimpleWorker

        from posai_app.queue import get_redis

        with app.app_context():
            connection = get_redis()
            worker = SimpleWorker(list(app.config["RQ_QUEUES"]), connection=connection)
            worker.work(burst=True)
            return worker.successful_job_count if hasattr(worker, "successful_job_count") else 0

    return _run

"""Every statement the app runs on a shop-owned table names its shop: checked on the SQL itself.

`tenancy.of_shop` is the one way code writes a shop filter, and test_tenancy fails on a
hand-written one; this plugin checks the outcome instead, over the whole suite: each SELECT,
UPDATE or DELETE that the app (not a test's own set-up) sends and that reads a shop-owned table
must constrain `shop_id` in a WHERE or ON clause. That is what routes a query to one partition
here and to one node on a distributed PostgreSQL (docs/operations.md, "Partitioning by shop").

The few statements that scan every shop on purpose (operators' maintenance: which shops have a
dead job, which are due for the nightly retrain) are listed in CROSS_SHOP by the function that
sends them; any other one fails the run, naming the statement and where it came from.
"""

from __future__ import annotations

import re
import traceback

import pytest
import sqlalchemy as sa

# function (module:qualname of the nearest posai_app frame) -> why it reads every shop
CROSS_SHOP: dict[str, str] = {
    "posai_app.schedule:resume_interrupted_jobs": "each worker's maintenance pass: the shops whose "
    "sync or training is marked running (then checked one shop at a time)",
}

_READS = re.compile(r"^\s*(SELECT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)
_SHOP_FILTER = re.compile(r"\b(WHERE|ON)\b.*\bshop_id\b", re.IGNORECASE | re.DOTALL)
_found: dict[tuple[str, str], str] = {}
_tables: re.Pattern | None = None


def _shop_tables() -> re.Pattern:
    global _tables
    if _tables is None:
        from posai_app.models import shop_owned_models

        names = "|".join(sorted(m.__tablename__ for m in shop_owned_models()))
        _tables = re.compile(rf"\b(FROM|JOIN|UPDATE)\s+(\w+\.)?({names})\b", re.IGNORECASE)
    return _tables


def _origin() -> str | None:
    """The nearest app frame that sent the statement, or None when a test or fixture sent it."""
    for frame in reversed(traceback.extract_stack()[:-3]):
        path = frame.filename.replace("\\", "/")
        if "/posai_app/" in path:
            module = path.rsplit("/posai_app/", 1)[1].removesuffix(".py").replace("/", ".")
            return f"posai_app.{module}:{frame.name}"
        if "/tests/" in path or "/migrations/" in path or "/alembic/" in path:
            return None
    return None


def _check(conn, cursor, statement, parameters, context, executemany) -> None:
    if not _READS.match(statement) or not _shop_tables().search(statement):
        return
    if _SHOP_FILTER.search(statement):
        return
    origin = _origin()
    if origin is None or origin in CROSS_SHOP:
        return
    _found.setdefault((origin, " ".join(statement.split())[:300]), origin)


@pytest.fixture(scope="session", autouse=True)
def _watch_shop_filters():
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _check)
    yield
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", _check)


def pytest_sessionfinish(session, exitstatus):
    if not _found:
        return
    lines = [f"  {origin}: {sql}" for origin, sql in sorted(_found)]
    message = "statements on shop-owned tables without a shop_id filter (tests/shop_filter.py):\n"
    session.config.get_terminal_writer().line(message + "\n".join(lines), red=True)
    if session.exitstatus == 0:
        session.exitstatus = 1

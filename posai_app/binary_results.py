"""Results in PostgreSQL's binary format, for the statements that read large `bytea` values.

psycopg 3 asks for results in text format unless told otherwise, and in text format PostgreSQL
sends a `bytea` as hex: twice its size, encoded by the server and decoded by the client. A shop's
serving index (hundreds of KB to tens of MB, `posai_app.serving.store.load`) read that way took
about five times as long as in binary format (7.2 ms against 1.4–1.8 ms for 510 KB on this
machine). A statement that asks for it, with `execution_options(binary_results=True)`, is
executed by psycopg with `binary=True` (https://www.psycopg.org/psycopg3/docs/basic/from_pg.html,
"Binary data"; `Cursor.execute(..., binary=True)`). Every other statement and every other driver
is left alone. The statement still goes through SQLAlchemy: its events (the suite's shop-filter
check), the request's statement timeout and the session's transaction apply as to any other.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect

OPTION = "binary_results"


def init() -> None:
    """Register the hook once per process (it applies to every engine; opting in is per statement)."""
    if not event.contains(Dialect, "do_execute", _do_execute):
        event.listen(Dialect, "do_execute", _do_execute)


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    if not context.execution_options.get(OPTION) or context.dialect.driver != "psycopg":
        return None  # the dialect executes it as usual
    cursor.execute(statement, parameters, binary=True)
    return True

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

Only a plain `execute` with parameters is hooked (not executemany, nor a statement without
parameters), and only server-side-binding cursors can do it: a deployment that configures
psycopg's `ClientCursor` (e.g. for a transaction-pooling pgbouncer) gets text results, as before.
In binary format psycopg returns a PostgreSQL type it has no loader for (an unregistered enum) as
`bytes` rather than `str`: ask for it only on statements whose columns are built-in types.
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
    if context is None or not context.execution_options.get(OPTION) or context.dialect.driver != "psycopg":
        return None  # the dialect executes it as usual
    if _client_side(cursor):
        return None  # "client-side cursors don't support binary results"
    cursor.execute(statement, parameters, binary=True)
    return True


def _client_side(cursor: Any) -> bool:
    from psycopg import ClientCursor

    return isinstance(cursor, ClientCursor)

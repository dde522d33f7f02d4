"""Lists of ids in SQL: `column IN (…)` in chunks SQLite can bind, or one PostgreSQL array.

`WHERE id IN (:p1, …, :p900)` costs PostgreSQL a plan of 900 parameters per statement (about
20 ms on a partitioned table, measured in the bulk import); `id = ANY(:ids)` is one parameter
and one index scan, for any length. SQLite has no arrays and binds at most 999 parameters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from posai_app.extensions import db

SQLITE_CHUNK = 900  # under SQLite's bound-parameter limit, with room for the other parameters


def id_chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """`ids` in as few pieces as the database binds (PostgreSQL: one; none when empty)."""
    if not ids:
        return
    if db.engine.dialect.name == "postgresql":
        yield ids
        return
    for start in range(0, len(ids), SQLITE_CHUNK):
        yield ids[start : start + SQLITE_CHUNK]


def among(column: sa.ColumnElement, chunk: Sequence[int]) -> sa.ColumnElement[bool]:
    """`column` is one of `chunk` (a piece of `id_chunks`)."""
    if db.engine.dialect.name == "postgresql":
        return column == sa.any_(sa.literal(list(chunk), postgresql.ARRAY(sa.BigInteger)))
    return column.in_(chunk)

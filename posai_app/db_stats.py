"""Planner statistics after a bulk write: ANALYZE the partitions a shop's import just filled.

PostgreSQL's autovacuum analyzes a table (or a partition) up to a minute after it grew, and never
analyzes a partitioned parent. A shop's first queries right after its import (the first training,
the Impact section's lift) would otherwise be planned on no statistics for its rows: on the
partitioned schema, a join that takes a second with statistics ran past the 10 s statement
timeout without them. ANALYZE samples a bounded number of rows (30,000 by default), so this costs
well under a second per table whatever the shop's size; only the shop's own partition is
analyzed (what a pruned query plans with), so concurrent imports of other shops do not queue on
one table's ANALYZE lock. SQLite: nothing to do.
"""

from __future__ import annotations

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.tenancy import of_shop


def analyze_for_shop(shop_id: int, *models) -> None:
    """ANALYZE, for each model's table, the partition holding the shop's rows (or the plain table)."""
    if db.engine.dialect.name != "postgresql":
        return
    db.session.commit()  # ANALYZE sees committed rows only; it also runs inside this transaction
    for model in models:
        table = model.__table__
        where = (
            sa.select(sa.text("tableoid::regclass::text")).select_from(table).where(of_shop(table, shop_id))
        )
        holder = db.session.scalar(where.limit(1))  # a partition's name, or the plain table's
        if holder is not None:
            db.session.execute(sa.text(f"ANALYZE {holder}"))
    db.session.commit()

"""On PostgreSQL, every shop-owned table hash-partitioned by shop_id (DB_HASH_PARTITIONS partitions)

PostgreSQL's declarative partitioning enforces the rule Citus enforces when it distributes a table
by tenant: every primary key and unique constraint must contain the partition key. With 0012 each
shop-owned table's key starts with shop_id, so the tables partition unchanged; the test suite runs
on the partitioned schema (docs/operations.md, "Partitioning by shop", says why production does
too).

Each table is rebuilt: renamed aside, created again `PARTITION BY HASH (shop_id)` with its
columns, defaults, constraints and indexes under their own names, filled with every row, and the
old table dropped; all in the migration's transaction. `POSAI_DB_HASH_PARTITIONS=0` (or SQLite)
leaves the tables as they are; a later upgrade never re-partitions a partitioned table. Downgrade
rebuilds them as plain tables, every row kept.

Revision ID: 0013_partition_by_shop
Revises: 0012_shop_keys
Create Date: 2026-12-02

"""

import sqlalchemy as sa
from alembic import op

revision = "0013_partition_by_shop"
down_revision = "0012_shop_keys"
branch_labels = None
depends_on = None


def _partitions() -> int:
    from flask import current_app

    return int(current_app.config.get("DB_HASH_PARTITIONS") or 0)


def _shop_tables(conn, kind: str) -> list[str]:
    """The shop-owned tables (a shop_id column) of relkind `kind`: "r" plain, "p" partitioned."""
    return list(
        conn.execute(
            sa.text(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'shop_id' AND NOT a.attisdropped "
                "WHERE n.nspname = current_schema() AND c.relkind = :kind AND NOT c.relispartition "
                "ORDER BY c.relname"
            ),
            {"kind": kind},
        ).scalars()
    )


def _rebuild(conn, table: str, partitions: int) -> None:
    """Rebuild `table` hash-partitioned into `partitions` (0: as a plain table), every row kept."""
    constraints = conn.execute(
        sa.text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u', 'f', 'c') "
            "AND conparentid = 0 ORDER BY contype DESC, conname"
        ),
        {"t": table},
    ).all()
    indexes = conn.execute(
        sa.text(
            "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = CAST(:t AS regclass) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = i.oid AND c.conrelid = x.indrelid) "
            "ORDER BY i.relname"
        ),
        {"t": table},
    ).all()
    old = f"{table}__rebuilt"
    conn.execute(sa.text(f'ALTER TABLE "{table}" RENAME TO "{old}"'))
    for name, _ in constraints:  # frees the names (a key's index shares its constraint's name)
        conn.execute(sa.text(f'ALTER TABLE "{old}" RENAME CONSTRAINT "{name}" TO "{name}__old"'))
    for name, _ in indexes:
        conn.execute(sa.text(f'ALTER INDEX "{name}" RENAME TO "{name}__old"'))
    clause = " PARTITION BY HASH (shop_id)" if partitions else ""
    conn.execute(
        sa.text(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING GENERATED){clause}')
    )
    for remainder in range(partitions):
        conn.execute(
            sa.text(
                f'CREATE TABLE "{table}_p{remainder}" PARTITION OF "{table}" '
                f"FOR VALUES WITH (MODULUS {partitions}, REMAINDER {remainder})"
            )
        )
    conn.execute(sa.text(f'INSERT INTO "{table}" SELECT * FROM "{old}"'))
    conn.execute(sa.text(f'DROP TABLE "{old}"'))  # with its partitions, if it had any
    for name, definition in constraints:
        conn.execute(sa.text(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'))
    for _, definition in indexes:  # "CREATE INDEX name ON [ONLY] public.table ...": the new table
        conn.execute(sa.text(definition.replace(" ON ONLY ", " ON ", 1)))


def upgrade():
    conn = op.get_bind()
    partitions = _partitions()
    if conn.dialect.name != "postgresql" or partitions <= 0:
        return
    for table in _shop_tables(conn, "r"):
        _rebuild(conn, table, partitions)


def downgrade():
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in _shop_tables(conn, "p"):
        _rebuild(conn, table, 0)

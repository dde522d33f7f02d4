"""Hash partitions by shop_id (migration 0013): how they are named, and the schema-comparison
filter that keeps them out of Alembic's autogenerate (they are storage, not models).

Every shop-owned table `t` is, on PostgreSQL with DB_HASH_PARTITIONS > 0, a partitioned table with
partitions `t_p0` … `t_p{N-1}`; queries and the ORM only ever name `t`.
"""

from __future__ import annotations

import re

_PARTITION = re.compile(r"(?P<parent>[a-z_]+)_p\d+")


def is_partition(name: str | None, known_tables) -> bool:
    """Whether a reflected table is a hash partition of one of `known_tables`."""
    match = _PARTITION.fullmatch(name or "")
    return bool(match and match["parent"] in known_tables)


def include_name_for(metadata):
    """Alembic's `include_name` hook: every reflected name but the partitions of `metadata`'s tables."""

    def include_name(name, type_, parent_names) -> bool:
        return not (type_ == "table" and is_partition(name, metadata.tables))

    return include_name

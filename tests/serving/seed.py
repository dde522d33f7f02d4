"""Hand-made serving indexes for tests, stored exactly as training stores one."""

from __future__ import annotations

from collections.abc import Iterable


def _index(rows: list, counts: dict):
    from posai_app.reco import NeighborIndex

    return (
        NeighborIndex.from_rows([(str(a), str(b), co, s) for a, b, co, s in rows], counts) if rows else None
    )


def seed_index(
    shop_id: int,
    rows: Iterable[tuple[int, int, int, float]],
    stats: Iterable[tuple[int, int, int]] = (),
    *,
    challenger: tuple[str, Iterable[tuple[int, int, int, float]]] | None = None,
) -> None:
    """Store the index of these (source, target, co-count, score) rows and (variant, orders, recent
    orders) stats for the shop, in the current transaction (the config row is the caller's), and
    `challenger` = (metric, rows) as the challenger's index."""
    from posai_app.serving import store

    rows, stats = list(rows), list(stats)
    counts = {str(v): int(c) for v, c, _ in stats}
    other = None
    if challenger is not None:
        other = store.ChallengerIndex(challenger[0], _index(list(challenger[1]), counts))
    store.save(shop_id, _index(rows, counts), stats, challenger=other)

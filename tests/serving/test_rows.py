"""Publishing an index's rows: PostgreSQL's binary COPY writes exactly what to_rows() says."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import VariantNeighbor, VariantStat
from posai_app.reco.index import NeighborIndex
from posai_app.serving.rows import insert_neighbors, insert_stats


def small_index() -> NeighborIndex:
    ids = ["9007199254740993", "12", "7"]  # a 64-bit id beyond float precision
    return NeighborIndex(
        ids,
        counts=np.array([5, 3, 1]),
        indptr=np.array([0, 2, 3, 3]),
        targets=np.array([1, 2, 0]),
        scores=np.array([0.1 + 0.2, 1e-300, 2.5]),
        co_counts=np.array([3, 1, 2_000_000_000]),
    )


def stored_neighbors(shop_id: int) -> set[tuple]:
    rows = db.session.execute(
        sa.select(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        ).where(VariantNeighbor.shop_id == shop_id)
    )
    return {tuple(r) for r in rows}


def test_neighbor_and_stat_rows_are_written_exactly(app_ctx, shop, other_shop):
    index = small_index()
    insert_neighbors(shop.id, index)
    insert_stats(shop.id, index.counts, {"12": 2})
    db.session.commit()
    expected = {(int(a), int(b), co, score) for a, b, co, score in index.to_rows()}
    assert stored_neighbors(shop.id) == expected and len(expected) == 3
    assert stored_neighbors(other_shop.id) == set()
    stats = db.session.execute(
        sa.select(VariantStat.variant_id, VariantStat.order_count, VariantStat.recent_order_count).where(
            VariantStat.shop_id == shop.id
        )
    )
    assert {tuple(r) for r in stats} == {(9007199254740993, 5, 0), (12, 3, 2), (7, 1, 0)}


def test_rows_roll_back_with_the_publish_transaction(app_ctx, shop):
    insert_neighbors(shop.id, small_index())
    insert_stats(shop.id, small_index().counts, {})
    db.session.rollback()
    assert stored_neighbors(shop.id) == set()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(VariantStat)) == 0

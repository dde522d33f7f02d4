"""Per-process cache of each shop's neighbour index and bestseller pool.

Training publishes `variant_neighbors`, `variant_stats` and a new
`recommender_configs.model_version` in one transaction and raises the shop's "model"
change signal (posai_app.cache_signals) when it commits. A request uses the cached state
while that signal holds; when it changes, the process re-reads the config row and reloads
the index only if (model_version, trained_at) moved, so a reader sees either the old index
or the new one, never a mix. No per-request aggregation happens in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.models import RecommenderConfig, VariantNeighbor, VariantStat
from posai_app.reco.serving import rank_bestsellers

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex

MAX_CACHED_SHOPS = 64


@dataclass(frozen=True)
class ServingState:
    version: tuple  # (model_version, trained_at): changes whenever training publishes
    metric: str
    index: NeighborIndex | None
    bestsellers: tuple[tuple[str, float], ...]  # (variant id, recent order count), best first


def serving_state(shop_id: int) -> ServingState:
    """The shop's current index (reused while its "model" signal holds, else checked and reloaded)."""

    def load(previous: ServingState | None) -> ServingState:
        row = db.session.execute(
            sa.select(
                RecommenderConfig.model_version, RecommenderConfig.trained_at, RecommenderConfig.metric
            ).where(RecommenderConfig.shop_id == shop_id)
        ).first()
        version = (row.model_version, row.trained_at) if row else (0, None)
        metric = (row.metric if row else None) or "popularity"
        if previous is not None and previous.version == version and previous.metric == metric:
            return previous
        return _load(shop_id, version, metric)

    return shop_cache("serving", "model", MAX_CACHED_SHOPS).get_or_load(shop_id, load)


def _load(shop_id: int, version: tuple, metric: str) -> ServingState:
    from posai_app.reco import NeighborIndex  # numpy/scipy load once, on first use

    stats = db.session.execute(
        sa.select(VariantStat.variant_id, VariantStat.order_count, VariantStat.recent_order_count).where(
            VariantStat.shop_id == shop_id
        )
    ).all()
    counts = {str(v): int(c) for v, c, _ in stats}
    rows = db.session.execute(
        sa.select(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        ).where(VariantNeighbor.shop_id == shop_id)
    ).all()
    index = (
        NeighborIndex.from_rows(((str(a), str(b), co, s) for a, b, co, s in rows), counts) if rows else None
    )
    return ServingState(version=version, metric=metric, index=index, bestsellers=rank_bestsellers(stats))

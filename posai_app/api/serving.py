"""Per-process cache of each shop's neighbour index, keyed by model version and training time.

A request reads the shop's `recommender_configs.model_version` (one indexed row);
when it differs from the cached one, the process reloads the index from
`variant_neighbors` + `variant_stats`. Training publishes a new version in the
same transaction as the new rows, so a reader sees either the old index or the
new one, never a mix. No per-request aggregation happens in SQL.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import RecommenderConfig, VariantNeighbor, VariantStat

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex

MAX_CACHED_SHOPS = 64
BESTSELLER_POOL = 200


@dataclass(frozen=True)
class ServingState:
    version: tuple  # (model_version, trained_at): changes whenever training publishes
    metric: str
    index: NeighborIndex | None
    bestsellers: tuple[tuple[int, float], ...]  # (variant_id, recent order count), best first


_cache: OrderedDict[int, ServingState] = OrderedDict()
_lock = threading.Lock()


def serving_state(shop_id: int) -> ServingState:
    """The shop's current index (loaded or reused)."""
    row = db.session.execute(
        sa.select(
            RecommenderConfig.model_version, RecommenderConfig.trained_at, RecommenderConfig.metric
        ).where(RecommenderConfig.shop_id == shop_id)
    ).first()
    version = (row.model_version, row.trained_at) if row else (0, None)
    metric = (row.metric if row else None) or "popularity"
    with _lock:
        cached = _cache.get(shop_id)
        if cached is not None and cached.version == version:
            _cache.move_to_end(shop_id)
            return cached
    state = _load(shop_id, version, metric)
    with _lock:
        _cache[shop_id] = state
        _cache.move_to_end(shop_id)
        while len(_cache) > MAX_CACHED_SHOPS:
            _cache.popitem(last=False)
    return state


def forget(shop_id: int | None = None) -> None:
    """Drop cached state (one shop, or all): used on uninstall and in tests."""
    with _lock:
        if shop_id is None:
            _cache.clear()
        else:
            _cache.pop(shop_id, None)


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
    ranked = sorted(stats, key=lambda r: (-r[2], -r[1], str(r[0])))
    bestsellers = tuple((int(v), float(recent)) for v, _, recent in ranked[:BESTSELLER_POOL] if recent > 0)
    return ServingState(version=version, metric=metric, index=index, bestsellers=bestsellers)

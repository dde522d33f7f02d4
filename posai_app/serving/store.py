"""The one owner of a shop's published serving index: `publish` writes it, `load` reads it.

What is stored: the neighbour rows (`variant_neighbors`, written by posai_app.serving.rows),
per-variant order counts and recent counts (`variant_stats`: tie order and the bestseller
fallback, by the rule of posai_app.reco.serving) and the index's identity on the shop's
`recommender_configs` row: (model_version, trained_at), bumped by every publish.

`publish` runs inside the train job's transaction, so the job's config and run updates commit
with it; it raises the shop's "model" change signal, which every web process sees after the
commit (posai_app.cache_signals) and answers by calling `load` once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.models import RecommenderConfig, VariantNeighbor, VariantStat
from posai_app.reco.serving import order_counts, rank_bestsellers, recent_counts
from posai_app.serving.rows import insert_neighbors, insert_stats

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex
    from posai_app.reco.stats import History

UNTRAINED_METRIC = "popularity"  # what the API names the answer of a shop without a trained metric


@dataclass(frozen=True)
class ServingIndex:
    """A shop's published index as the request path uses it."""

    version: tuple  # (model_version, trained_at): changes whenever training publishes
    metric: str
    index: NeighborIndex | None  # None: nothing learnt yet (bestsellers only)
    bestsellers: tuple[tuple[str, float], ...]  # (variant id, recent order count), best first


def config_for(shop_id: int) -> RecommenderConfig:
    """The shop's config row (created, untrained, if it has none yet)."""
    config = db.session.scalar(sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == shop_id))
    if config is None:
        config = RecommenderConfig(shop_id=shop_id, k=2, model_version=0, status="untrained")
        db.session.add(config)
        db.session.flush()
    return config


def publish(shop_id: int, index: NeighborIndex | None, history: History) -> RecommenderConfig:
    """Replace the shop's index with `index` (None: no pairs to learn from, bestsellers only) and
    the stats of `history`, in the caller's transaction; returns the config row (version bumped)."""
    touch(shop_id, "model")  # web processes reload the index once this commits
    db.session.execute(sa.delete(VariantNeighbor).where(VariantNeighbor.shop_id == shop_id))
    db.session.execute(sa.delete(VariantStat).where(VariantStat.shop_id == shop_id))
    if index is not None:
        insert_neighbors(shop_id, index)
    insert_stats(shop_id, order_counts(history), recent_counts(history))
    config = config_for(shop_id)
    config.trained_at = datetime.now(UTC)
    config.model_version = (config.model_version or 0) + 1
    return config


def published_version(shop_id: int) -> tuple[tuple, str]:
    """(version, metric) of the shop's published index: one indexed read of its config row."""
    row = db.session.execute(
        sa.select(
            RecommenderConfig.model_version, RecommenderConfig.trained_at, RecommenderConfig.metric
        ).where(RecommenderConfig.shop_id == shop_id)
    ).first()
    version = (row.model_version, row.trained_at) if row else (0, None)
    return version, (row.metric if row else None) or UNTRAINED_METRIC


def load(shop_id: int, version: tuple | None = None, metric: str | None = None) -> ServingIndex:
    """The shop's published index, stats and bestsellers (version and metric read if not given)."""
    from posai_app.reco import NeighborIndex  # numpy/scipy load once, on first use

    if version is None or metric is None:
        version, metric = published_version(shop_id)
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
    return ServingIndex(version=version, metric=metric, index=index, bestsellers=rank_bestsellers(stats))

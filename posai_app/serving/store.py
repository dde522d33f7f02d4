"""The one owner of a shop's published serving index: `publish` writes it, `load` reads it.

What is stored, per shop:
- `serving_indexes`: one row holding the whole index and its bestseller pool as one compact,
  versioned object (posai_app.serving.packed), which `load` reads in one query;
- for people: the PAIR_ROWS most co-purchased pairs in `variant_neighbors` (the admin page's
  "bought together") and per-variant order counts and recent counts in `variant_stats` (the
  bestseller rule of posai_app.reco.serving), both written by posai_app.serving.rows;
- the index's identity on the shop's `recommender_configs` row: (model_version, trained_at),
  bumped by every publish.

`publish` runs inside the train job's transaction, so the job's config and run updates commit
with it; it raises the shop's "model" change signal, which every web process sees after the
commit (posai_app.cache_signals) and answers by calling `load` once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.extensions import db
from posai_app.models import ModelStatus, RecommenderConfig, ServingIndexBlob, VariantNeighbor, VariantStat
from posai_app.reco.serving import rank_bestsellers, variant_stats
from posai_app.serving import packed
from posai_app.serving.rows import insert_neighbors, insert_stats
from posai_app.tenancy import of_shop

if TYPE_CHECKING:
    from posai_app.reco import NeighborIndex
    from posai_app.reco.stats import History

PAIR_ROWS = 200  # pairs kept for people: the admin page shows the best 10 of its top 40 rows
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
    config = db.session.scalar(sa.select(RecommenderConfig).where(of_shop(RecommenderConfig, shop_id)))
    if config is None:
        config = RecommenderConfig(shop_id=shop_id, k=2, model_version=0, status=ModelStatus.UNTRAINED)
        db.session.add(config)
        db.session.flush()
    return config


def publish(shop_id: int, index: NeighborIndex | None, history: History) -> RecommenderConfig:
    """Replace the shop's index with `index` (None: no pairs to learn from, bestsellers only) and
    the stats of `history`, in the caller's transaction; returns the config row (version bumped)."""
    save(shop_id, index, variant_stats(history))
    config = config_for(shop_id)
    config.trained_at = datetime.now(UTC)
    config.model_version = (config.model_version or 0) + 1
    return config


def save(shop_id: int, index: NeighborIndex | None, stats: Iterable[tuple[str | int, int, int]]) -> None:
    """Write the index and (variant, orders, recent orders) stats in place of the shop's, in the
    caller's transaction, leaving the config row alone (publish bumps it)."""
    stats = [(str(v), int(c), int(r)) for v, c, r in stats]
    touch(shop_id, "model")  # web processes reload the index once this commits
    for model in (ServingIndexBlob, VariantNeighbor, VariantStat):
        db.session.execute(sa.delete(model).where(of_shop(model, shop_id)))
    db.session.execute(
        sa.insert(ServingIndexBlob).values(
            shop_id=shop_id,
            format=packed.FORMAT,
            variants=len(index) if index is not None else 0,
            neighbors=index.n_rows if index is not None else 0,
            payload=packed.pack(index, rank_bestsellers(stats)),
            published_at=datetime.now(UTC),
        )
    )
    if index is not None and index.n_rows:
        insert_neighbors(shop_id, index, top=PAIR_ROWS)
    insert_stats(
        shop_id,
        {v: c for v, c, _ in stats},
        {v: r for v, _, r in stats if r},
    )


def published_version(shop_id: int) -> tuple[tuple, str]:
    """(version, metric) of the shop's published index: one indexed read of its config row."""
    row = db.session.execute(
        sa.select(
            RecommenderConfig.model_version, RecommenderConfig.trained_at, RecommenderConfig.metric
        ).where(of_shop(RecommenderConfig, shop_id))
    ).first()
    version = (row.model_version, row.trained_at) if row else (0, None)
    return version, (row.metric if row else None) or UNTRAINED_METRIC


def load(shop_id: int, version: tuple | None = None, metric: str | None = None) -> ServingIndex:
    """The shop's published index and bestseller pool: one read (version and metric too if not given)."""
    if version is None or metric is None:
        version, metric = published_version(shop_id)
    payload = db.session.scalar(sa.select(ServingIndexBlob.payload).where(of_shop(ServingIndexBlob, shop_id)))
    index, bestsellers = (
        packed.unpack(payload) if payload else (None, ())
    )  # none stored yet: bestsellers only
    return ServingIndex(version=version, metric=metric, index=index, bestsellers=bestsellers)

"""The one owner of a shop's published serving indexes: `publish` writes them, `load` reads them.

What is stored, per shop:
- `serving_indexes`: one row per arm, each holding a whole index and the bestseller pool as one
  compact, versioned object (posai_app.serving.packed): `arm = 'champion'`, the live scorer's,
  and `arm = 'challenger'`, the last training's runner-up (absent when it found none). Each row
  names the scorer it was built from (`metric`). `load` reads both in one query, so a web
  process holds the pair from one commit, and a cached pair keeps the warm API SQL-free;
- for people: the champion's PAIR_ROWS most co-purchased pairs in `variant_neighbors` (the admin
  page's "bought together") and per-variant order counts and recent counts in `variant_stats`
  (the bestseller rule of posai_app.reco.serving), both written by posai_app.serving.rows;
- the pair's identity on the shop's `recommender_configs` row: (model_version, trained_at),
  bumped by every publish and every `swap_arms` (both arms answer under that one version),
  with the champion's `metric` and the challenger's `challenger_metric`.

`publish` runs inside the train job's transaction, so the job's config and run updates commit
with it; `swap_arms` (making the challenger live) runs in its caller's. Both raise the shop's
"model" change signal, which every web process sees after the commit (posai_app.cache_signals)
and answers by calling `load` once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app import binary_results
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


CHAMPION, CHALLENGER = "champion", "challenger"
SWAPPING = "swapping"  # an arm value held for one statement while two rows trade places


@dataclass(frozen=True)
class ChallengerIndex:
    """The runner-up scorer's index, which answers the shop's challenger share of carts."""

    metric: str
    index: NeighborIndex | None


@dataclass(frozen=True)
class ServingIndex:
    """A shop's published indexes as the request path uses them."""

    version: tuple  # (model_version, trained_at): changes whenever training publishes or arms swap
    metric: str
    index: NeighborIndex | None  # None: nothing learnt yet (bestsellers only)
    bestsellers: tuple[tuple[str, float], ...]  # (variant id, recent order count), best first
    challenger: ChallengerIndex | None = None  # None: no runner-up (everyone gets the champion)


def config_for(shop_id: int) -> RecommenderConfig:
    """The shop's config row (created, untrained, if it has none yet)."""
    config = db.session.scalar(sa.select(RecommenderConfig).where(of_shop(RecommenderConfig, shop_id)))
    if config is None:
        config = RecommenderConfig(shop_id=shop_id, k=2, model_version=0, status=ModelStatus.UNTRAINED)
        db.session.add(config)
        db.session.flush()
    return config


def publish(
    shop_id: int,
    index: NeighborIndex | None,
    history: History,
    *,
    metric: str | None = None,
    challenger: ChallengerIndex | None = None,
) -> RecommenderConfig:
    """Replace the shop's indexes with `index` (None: no pairs to learn from, bestsellers only)
    built by `metric`, and `challenger` (None: no challenger), and the stats of `history`, in the
    caller's transaction; returns the config row (version bumped)."""
    save(shop_id, index, variant_stats(history), metric=metric, challenger=challenger)
    config = config_for(shop_id)
    config.trained_at = datetime.now(UTC)
    config.model_version = (config.model_version or 0) + 1
    config.challenger_metric = challenger.metric if challenger is not None else None
    return config


def save(
    shop_id: int,
    index: NeighborIndex | None,
    stats: Iterable[tuple[str | int, int, int]],
    *,
    metric: str | None = None,
    challenger: ChallengerIndex | None = None,
) -> None:
    """Write the index (and the challenger's) and (variant, orders, recent orders) stats in place
    of the shop's, in the caller's transaction, leaving the config row alone (publish bumps it)."""
    stats = [(str(v), int(c), int(r)) for v, c, r in stats]
    touch(shop_id, "model")  # web processes reload the index once this commits
    for model in (ServingIndexBlob, VariantNeighbor, VariantStat):
        db.session.execute(sa.delete(model).where(of_shop(model, shop_id)))
    bestsellers = rank_bestsellers(stats)
    arms = [(CHAMPION, metric, index)]
    if challenger is not None:
        arms.append((CHALLENGER, challenger.metric, challenger.index))
    db.session.execute(
        sa.insert(ServingIndexBlob),
        [
            {
                "shop_id": shop_id,
                "arm": arm,
                "metric": name,
                "format": packed.FORMAT,
                "variants": len(built) if built is not None else 0,
                "neighbors": built.n_rows if built is not None else 0,
                "payload": packed.pack(built, bestsellers),
                "published_at": datetime.now(UTC),
            }
            for arm, name, built in arms
        ],
    )
    if index is not None and index.n_rows:
        insert_neighbors(shop_id, index, top=PAIR_ROWS)
    insert_stats(
        shop_id,
        {v: c for v, c, _ in stats},
        {v: r for v, _, r in stats if r},
    )


def swap_arms(shop_id: int) -> RecommenderConfig | None:
    """Make the challenger's index the champion's and the champion's the challenger's, in the
    caller's transaction (config metric and params swapped, version bumped); None (nothing
    changed) when the shop has no challenger index."""
    config = config_for(shop_id)
    arms = set(db.session.scalars(sa.select(ServingIndexBlob.arm).where(of_shop(ServingIndexBlob, shop_id))))
    if {CHAMPION, CHALLENGER} - arms or not config.challenger_metric:
        return None
    touch(shop_id, "model")
    # Three steps: PostgreSQL checks the (shop_id, arm) key row by row, so a one-statement swap fails.
    for old, new in ((CHAMPION, SWAPPING), (CHALLENGER, CHAMPION), (SWAPPING, CHALLENGER)):
        db.session.execute(
            sa.update(ServingIndexBlob)
            .where(of_shop(ServingIndexBlob, shop_id), ServingIndexBlob.arm == old)
            .values(arm=new)
        )
    champion = db.session.scalar(
        sa.select(ServingIndexBlob).where(
            of_shop(ServingIndexBlob, shop_id), ServingIndexBlob.arm == CHAMPION
        )
    )
    db.session.refresh(champion)
    index, _ = packed.unpack(champion.payload)
    # "Bought together" on the admin page shows the live index's pairs.
    db.session.execute(sa.delete(VariantNeighbor).where(of_shop(VariantNeighbor, shop_id)))
    if index is not None and index.n_rows:
        insert_neighbors(shop_id, index, top=PAIR_ROWS)
    config.metric, config.challenger_metric = config.challenger_metric, config.metric
    config.params, config.challenger_params = config.challenger_params, config.params
    config.model_version = (config.model_version or 0) + 1
    for arm, name in ((CHAMPION, config.metric), (CHALLENGER, config.challenger_metric)):
        db.session.execute(
            sa.update(ServingIndexBlob)
            .where(of_shop(ServingIndexBlob, shop_id), ServingIndexBlob.arm == arm)
            .values(metric=name)
        )
    return config


_VERSION_COLUMNS = (RecommenderConfig.model_version, RecommenderConfig.trained_at, RecommenderConfig.metric)


def _version_of(row) -> tuple[tuple, str]:
    """(version, metric) from a row of _VERSION_COLUMNS, or an unpublished shop's for None."""
    version = (row.model_version, row.trained_at) if row else (0, None)
    return version, (row.metric if row else None) or UNTRAINED_METRIC


def published_version(shop_id: int) -> tuple[tuple, str]:
    """(version, metric) of the shop's published index: one indexed read of its config row."""
    return _version_of(
        db.session.execute(sa.select(*_VERSION_COLUMNS).where(of_shop(RecommenderConfig, shop_id))).first()
    )


def _stored_arms(shop_id: int, with_version: bool) -> list:
    """The shop's stored arms (arm, payload, arm_metric), with _VERSION_COLUMNS when `with_version`:
    then the config row joined to them, one row per arm (one with null arm columns if none), and
    no row at all without a config row."""
    blob = ServingIndexBlob
    columns = (blob.arm, blob.payload, blob.metric.label("arm_metric"))
    if with_version:
        query = (
            sa.select(*_VERSION_COLUMNS, *columns)
            .select_from(RecommenderConfig)
            .outerjoin(blob, of_shop(blob, shop_id))  # both sides are the one shop: no key equality needed
            .where(of_shop(RecommenderConfig, shop_id))
        )
    else:
        query = sa.select(*columns).where(of_shop(blob, shop_id))
    binary = {binary_results.OPTION: True}  # bytea as bytes, not hex
    return db.session.execute(query.execution_options(**binary)).all()


def load(shop_id: int) -> ServingIndex:
    """The shop's published indexes, bestseller pool, version and metric, in one statement: one
    snapshot, so a retrain committing meanwhile cannot label its index with the version before it
    (a shop with stored arms but no config row, saved and never published, takes a second read)."""
    found = _stored_arms(shop_id, with_version=True)
    version, metric = _version_of(found[0] if found else None)
    if not found:
        found = _stored_arms(shop_id, with_version=False)
    rows = {row.arm: (row.payload, row.arm_metric) for row in found if row.arm is not None}
    payload = rows.get(CHAMPION, (None, None))[0]
    index, bestsellers = (
        packed.unpack(payload) if payload else (None, ())
    )  # none stored yet: bestsellers only
    challenger = None
    if CHALLENGER in rows and rows[CHALLENGER][1]:
        challenger_payload, challenger_metric = rows[CHALLENGER]
        challenger = ChallengerIndex(challenger_metric, packed.unpack(challenger_payload)[0])
    return ServingIndex(
        version=version, metric=metric, index=index, bestsellers=bestsellers, challenger=challenger
    )

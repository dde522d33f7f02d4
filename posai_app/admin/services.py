"""What the admin page shows, assembled from the features that own the data; and its two actions.

Every function takes `shop_id` and plain values and returns plain dicts/lists, never
touching `request` or `g`; the views commit. The figures come from the features themselves:
history counts and sync progress from ingest (`ingest.summary`, `ingest.sync_state`), the
report from training (`training.report`), settings from `shops.settings`, the preview from
the API's own `recommend_for_cart`. What is left here is the page's own combination of them.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from posai_app.api.services import recommend_for_cart
from posai_app.cache_signals import shop_cache
from posai_app.extensions import db
from posai_app.ingest import catalog
from posai_app.ingest.sync import SYNC_JOB_ID, enqueue_sync, resume_interrupted_sync
from posai_app.ingest.sync_state import sync_states
from posai_app.models import ProductVariant, VariantNeighbor
from posai_app.queue import get_redis, inline_job_running
from posai_app.tenancy import of_shop, select_for_shop
from posai_app.training import services as training
from posai_app.training.report import latest_run, live_config

log = logging.getLogger(__name__)

# How long "queued, waiting for a worker" is shown after a request before giving up on it.
QUEUED_GRACE_SECONDS = 15 * 60
MAX_CACHED_SHOPS = 256


def top_pairs(shop_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The most co-purchased pairs of the serving index, each unordered pair once, with titles."""
    # The index only changes when a training publishes, which raises the "model" signal.
    cache = shop_cache("admin-top-pairs", "model", MAX_CACHED_SHOPS)
    cached = cache.get_or_load(shop_id, lambda _previous: {})
    if limit not in cached:
        token, current, loaded_at = cache.peek(shop_id)
        current = dict(current if current is not None else cached)
        current[limit] = _top_pairs(shop_id, limit)
        cache.put(shop_id, token, current, loaded_at)
        return current[limit]
    return cached[limit]


def _top_pairs(shop_id: int, limit: int) -> list[dict[str, Any]]:
    # Pick the top rows first, then join titles to those few (not to the whole index).
    top = (
        select_for_shop(VariantNeighbor, shop_id)
        .with_only_columns(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        )
        .order_by(
            VariantNeighbor.co_count.desc(),
            VariantNeighbor.score.desc(),
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
        )
        .limit(limit * 4)
        .subquery()
    )
    source = aliased(ProductVariant)
    target = aliased(ProductVariant)
    rows = db.session.execute(
        sa.select(
            top.c.source_variant_id,
            top.c.target_variant_id,
            top.c.co_count,
            top.c.score,
            source.product_title,
            source.variant_title,
            target.product_title,
            target.variant_title,
        )
        .select_from(top)
        .outerjoin(source, sa.and_(of_shop(source, shop_id), source.variant_id == top.c.source_variant_id))
        .outerjoin(target, sa.and_(of_shop(target, shop_id), target.variant_id == top.c.target_variant_id))
        .order_by(top.c.co_count.desc(), top.c.score.desc(), top.c.source_variant_id, top.c.target_variant_id)
    ).all()
    seen: set[frozenset[int]] = set()
    pairs = []
    for src, dst, co, score, s_title, s_variant, t_title, t_variant in rows:
        key = frozenset((src, dst))
        if key in seen:
            continue
        seen.add(key)
        pairs.append(
            {
                "a": catalog.variant_label(s_title, s_variant, src),
                "b": catalog.variant_label(t_title, t_variant, dst),
                "a_variant_id": src,
                "b_variant_id": dst,
                "co_count": co,
                "score": score,
            }
        )
        if len(pairs) == limit:
            break
    return pairs


def preview(shop_id: int, variant_ids: list[int], explain: bool) -> dict[str, Any]:
    """What the POS would get for this cart: the very function behind POST /api/recommendations."""
    return recommend_for_cart(shop_id, variant_ids, explain=explain)


def request_sync(shop_id: int) -> dict[str, Any]:
    """Start a resync from Shopify unless one is already under way (coalesced either way)."""
    if any(s["active"] for s in sync_states(shop_id).values()) or inline_job_running(
        SYNC_JOB_ID.format(shop_id)
    ):
        return {"status": "already_running"}
    job_id = enqueue_sync(shop_id)
    return {"status": "queued", "job_id": job_id}


def request_training(shop_id: int) -> dict[str, Any]:
    """Start a retrain for the shop; double clicks and concurrent requests are coalesced."""
    if get_redis() is None and inline_job_running(training.train_job_id(shop_id)):
        return {"status": "already_running", "run_id": None}
    return training.request_training(shop_id, "admin")


def job_status(
    shop_id: int,
    *,
    train_after: int | None = None,
    train_since: float | None = None,
    sync_since: float | None = None,
) -> dict[str, Any]:
    """Training and sync progress for the status panel.

    `train_after`/`train_since` and `sync_since` describe a request the page just made
    (epoch seconds): until a run newer than `train_after`, or a sync started after
    `sync_since`, shows up, that request is reported as queued (for a bounded time).
    """
    sync_resuming, training_resuming = _resume_dead_jobs(shop_id)
    run = latest_run(shop_id)
    syncs = sync_states(shop_id)
    train_queued = bool(
        _fresh(train_since)
        and train_after is not None
        and (run is None or run["id"] <= train_after)
        and not _run_active(run)
    )
    sync_running = any(s["active"] for s in syncs.values())
    sync_queued = False
    if _fresh(sync_since) and not sync_running:
        since_dt = datetime.fromtimestamp(sync_since, UTC) - timedelta(seconds=1)  # type: ignore[arg-type]
        # Any write by the sync job after the request (a resumed sync keeps its started_at).
        sync_queued = not any(s["updated_at"] and s["updated_at"] >= since_dt for s in syncs.values())
    training_active = _run_active(run) or train_queued or training_resuming
    sync_active = sync_running or sync_queued or sync_resuming
    return {
        "run": run,
        "train_queued": train_queued,
        "training_resuming": training_resuming,
        "sync_resuming": sync_resuming,
        "training_active": training_active,
        "syncs": syncs,
        "sync_queued": sync_queued,
        "sync_active": sync_active,
        "sync_failed": next((s for s in syncs.values() if s["failed"]), None),
        "config": live_config(shop_id),
        "active": training_active or sync_active,
    }


def _resume_dead_jobs(shop_id: int) -> tuple[bool, bool]:
    """A sync or training whose worker died is queued again now (and shown so), not left "running"."""
    try:
        return resume_interrupted_sync(shop_id), training.resume_dead_training(shop_id)
    except Exception:  # Redis refusing the job: the page still shows the truth (interrupted / failed)
        log.warning("shop %s: could not queue a dead job again", shop_id, exc_info=True)
        db.session.rollback()
        return False, False


def _fresh(since: float | None) -> bool:
    return since is not None and 0 <= time.time() - since < QUEUED_GRACE_SECONDS


def _run_active(run: dict[str, Any] | None) -> bool:
    return bool(run and run.get("active"))

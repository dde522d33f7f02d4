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

from posai_app.api.recommendations import recommend_for_cart
from posai_app.extensions import db
from posai_app.ingest.sync import SYNC_JOB_ID, enqueue_sync, resume_interrupted_sync
from posai_app.ingest.sync_state import sync_states
from posai_app.models import SyncStatus
from posai_app.queue import get_redis, inline_job_running
from posai_app.training import services as training
from posai_app.training.report import latest_run, live_config

log = logging.getLogger(__name__)

# How long "queued, waiting for a worker" is shown after a request before giving up on it.
QUEUED_GRACE_SECONDS = 15 * 60


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
        # Any write by the sync job after the request (a resumed sync keeps its started_at), but
        # not a resource's bulk query started ahead (still idle: sync._start_first_bulk_operations).
        sync_queued = not any(
            s["updated_at"] and s["updated_at"] >= since_dt and s["status"] != SyncStatus.IDLE
            for s in syncs.values()
        )
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

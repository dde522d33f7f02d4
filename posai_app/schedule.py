"""Periodic jobs: every night, check each installed shop's champion–challenger test, reconcile the
shop with Shopify, then retrain it.

How it runs: `worker.py` calls `register_periodic_jobs()` once at start-up, and works its
queues with RQ's built-in scheduler (`Worker.work(with_scheduler=True)`). We schedule one
`run_nightly` job for the next `POSAI_NIGHTLY_HOUR_UTC` (default 03:00 UTC) with
`Queue.enqueue_at`, under a job id named after that date, so any number of workers (and
restarts) schedule it once. `run_nightly` fans out one coalesced `reconcile_shop` job per
installed shop (which re-reads what changed since the last sync, then queues the shop's
nightly retrain) and schedules the following night. No cron, no rq-scheduler.
Without Redis (local demo) there is nothing to schedule: `posai sync` / `posai train` run on demand.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from posai_app.extensions import db
from posai_app.models import Shop, WebhookDelivery
from posai_app.queue import enqueue, get_queue, get_redis

log = logging.getLogger(__name__)

NIGHTLY_QUEUE = "low"
NIGHTLY_RETRY = (3, [60, 300, 900])  # slower than queue.RETRY: a nightly job has all night


def next_nightly_run(now: datetime | None = None, hour: int | None = None) -> datetime:
    """The next nightly run time (UTC) strictly after `now`."""
    now = now or datetime.now(UTC)
    hour = int(current_app.config.get("POSAI_NIGHTLY_HOUR_UTC", 3)) if hour is None else hour
    run = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def _nightly_job_id(run_at: datetime) -> str:
    return f"nightly-{run_at:%Y-%m-%d}"


def register_periodic_jobs(now: datetime | None = None) -> str | None:
    """Schedule the next nightly run unless it is already scheduled; returns its job id."""
    if get_redis() is None:
        log.info("no REDIS_URL: periodic jobs are not scheduled")
        return None
    from rq.job import Job

    run_at = next_nightly_run(now)
    job_id = _nightly_job_id(run_at)
    queue = get_queue(NIGHTLY_QUEUE)
    if Job.exists(job_id, connection=queue.connection):
        return job_id
    queue.enqueue_at(run_at, "posai_app.schedule.run_nightly", job_id=job_id, result_ttl=86400)
    log.info("nightly reconciliation and retrain scheduled for %s (%s)", run_at.isoformat(), job_id)
    return job_id


DELIVERY_RETENTION = timedelta(days=14)  # Shopify retries a webhook for up to 48 hours


def prune_webhook_deliveries(now: datetime | None = None) -> int:
    """Forget delivery records older than the retention (they only serve deduplication)."""
    cutoff = (now or datetime.now(UTC)) - DELIVERY_RETENTION
    result = db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff))
    db.session.commit()
    return result.rowcount or 0


def run_nightly() -> int:
    """Queue reconciliation (then retrain) for every installed shop; schedule tomorrow's run."""
    prune_webhook_deliveries()
    shop_ids = db.session.scalars(
        sa.select(Shop.id)
        .where(Shop.installed_at.is_not(None), Shop.uninstalled_at.is_(None))
        .order_by(Shop.id)
    ).all()
    for shop_id in shop_ids:
        enqueue(
            "ingest",
            "posai_app.schedule.reconcile_and_retrain",
            shop_id,
            job_id=f"reconcile-{shop_id}",
            coalesce=True,
            retry=NIGHTLY_RETRY,
        )
    if get_redis() is not None:
        register_periodic_jobs(datetime.now(UTC) + timedelta(minutes=1))
    return len(shop_ids)


def reconcile_and_retrain(shop_id: int) -> None:
    """The nightly job for one shop: the champion–challenger check (posai_app.impact.challenger:
    makes the challenger live if the merchant opted in and it won), then repair missed webhooks,
    then retrain on the result (which keeps a challenger made live, live)."""
    from posai_app.impact.challenger import check_challenger
    from posai_app.ingest import sync

    try:
        check_challenger(shop_id)
    except Exception:  # the nightly repair and retrain must not wait on the experiment's check
        db.session.rollback()
        log.exception("shop %s: the champion–challenger check failed", shop_id)
    result = sync.reconcile_shop(shop_id)
    if result.get("continued"):
        return  # the continuation (reconcile_shop) finishes the repair; the next night retrains
    if not any(isinstance(r, dict) and r.get("skipped") for r in result.values()):
        sync.enqueue_training(shop_id, "nightly")


def resume_interrupted_jobs() -> dict[str, int]:
    """Queue again every sync and training whose worker died mid-run (their heartbeats stopped).

    Run by each worker's maintenance pass (worker.py, every POSAI_WORKER_MAINTENANCE_SECONDS)
    and, per shop, by the admin's status requests; both paths are coalesced per shop.
    """
    from posai_app.ingest.sync import resume_interrupted_sync
    from posai_app.models import EvaluationRun, RunStatus, SyncState, SyncStatus
    from posai_app.training.services import resume_dead_training

    syncing = set(
        db.session.scalars(sa.select(SyncState.shop_id).where(SyncState.status == SyncStatus.RUNNING))
    )
    training = set(
        db.session.scalars(sa.select(EvaluationRun.shop_id).where(EvaluationRun.status == RunStatus.RUNNING))
    )
    resumed = {"syncs": 0, "trainings": 0}
    for shop_id in sorted(syncing):
        resumed["syncs"] += resume_interrupted_sync(shop_id)
    for shop_id in sorted(training):
        resumed["trainings"] += resume_dead_training(shop_id)
    db.session.commit()
    return resumed

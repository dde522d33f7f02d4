"""Asking for a training run: coalesced per shop, callable from views, jobs and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun, RunStatus, aware
from posai_app.queue import enqueue
from posai_app.tenancy import of_shop

TRAIN_JOB = "posai_app.training.jobs.train_shop"
HEARTBEAT_SECONDS = 10.0  # how often a running train job writes `heartbeat_at`
# A "running" run without a heartbeat for this long died with its worker (SIGKILL, OOM, a lost
# machine): it is marked failed and no longer blocks a new run.
DEAD_AFTER = timedelta(seconds=60)
DIED_PREFIX = "The worker running this training stopped"
DIED = DIED_PREFIX + " (no heartbeat for {seconds:.0f} s); train again."
RESUME_TRIGGER = "resume"  # a run queued again because the previous one died


def train_job_id(shop_id: int) -> str:
    return f"train-{shop_id}"


def last_sign_of_life(run: EvaluationRun) -> datetime | None:
    return aware(run.heartbeat_at or run.started_at)


def run_is_alive(run: EvaluationRun, now: datetime | None = None) -> bool:
    """A running run whose job still reports (its heartbeat, or its start, within DEAD_AFTER)."""
    seen = last_sign_of_life(run)
    return run.status == RunStatus.RUNNING and (
        seen is None or (now or datetime.now(UTC)) - seen < DEAD_AFTER
    )


def running_run(shop_id: int) -> EvaluationRun | None:
    """The shop's live in-progress run, if any; runs whose worker died are marked failed first."""
    runs = db.session.scalars(
        sa.select(EvaluationRun)
        .where(of_shop(EvaluationRun, shop_id), EvaluationRun.status == RunStatus.RUNNING)
        .order_by(EvaluationRun.started_at.desc())
    ).all()
    now = datetime.now(UTC)
    alive = None
    for run in runs:
        if run_is_alive(run, now):
            alive = alive or run
            continue
        run.status = RunStatus.FAILED
        run.error = DIED.format(seconds=DEAD_AFTER.total_seconds())
        run.finished_at = now
    if len(runs) > (1 if alive else 0):
        db.session.commit()
    return alive


def request_training(shop_id: int, trigger: str) -> dict:
    """Enqueue a train job unless one is queued or running; says which happened."""
    current = running_run(shop_id)
    if current is not None:
        return {"status": "already_running", "run_id": current.id}
    enqueue(
        "train",
        TRAIN_JOB,
        shop_id,
        trigger,
        job_id=train_job_id(shop_id),
        coalesce=True,
        job_timeout=3600,
        # A run just retired as dead leaves its RQ job "started" for minutes: replace it (only a
        # started job whose worker stopped reporting is, queue._abandoned), or this request is lost.
        replace_started=True,
    )
    latest = running_run(shop_id)  # inline mode has already finished; RQ has not started
    return {"status": "queued", "run_id": latest.id if latest else None}


# A shop whose last runs all died (a worker OOM-killed by this very shop, say) is not retried
# automatically again: the admin shows the failure and "Retrain now".
AUTOMATIC_RETRIES = 2


def resume_dead_training(shop_id: int) -> bool:
    """Retrain a shop whose latest run died with its worker, unless its last runs all died."""
    if running_run(shop_id) is not None:  # retires dead runs first
        return False
    latest = db.session.scalars(
        sa.select(EvaluationRun)
        .where(of_shop(EvaluationRun, shop_id))
        .order_by(EvaluationRun.started_at.desc(), EvaluationRun.id.desc())
        .limit(AUTOMATIC_RETRIES + 1)
    ).all()
    died = [run.status == RunStatus.FAILED and (run.error or "").startswith(DIED_PREFIX) for run in latest]
    if not died or not died[0] or (len(died) > AUTOMATIC_RETRIES and all(died)):
        return False
    request_training(shop_id, RESUME_TRIGGER)
    return True

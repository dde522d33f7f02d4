"""Asking for a training run: coalesced per shop, callable from views, jobs and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun
from posai_app.queue import enqueue

TRAIN_JOB = "posai_app.training.jobs.train_shop"
# A run still "running" after this long died with its worker; it no longer blocks a new one.
STALE_RUN = timedelta(hours=2)


def train_job_id(shop_id: int) -> str:
    return f"train-{shop_id}"


def running_run(shop_id: int) -> EvaluationRun | None:
    """The shop's in-progress run, if a live one exists."""
    since = datetime.now(UTC) - STALE_RUN
    return db.session.scalar(
        sa.select(EvaluationRun)
        .where(
            EvaluationRun.shop_id == shop_id,
            EvaluationRun.status == "running",
            EvaluationRun.started_at >= since,
        )
        .order_by(EvaluationRun.started_at.desc())
        .limit(1)
    )


def request_training(shop_id: int, trigger: str) -> dict:
    """Enqueue a train job unless one is queued or running; says which happened."""
    current = running_run(shop_id)
    if current is not None:
        return {"status": "already_running", "run_id": current.id}
    enqueue(
        "train", TRAIN_JOB, shop_id, trigger, job_id=train_job_id(shop_id), coalesce=True, job_timeout=3600
    )
    latest = running_run(shop_id)  # inline mode has already finished; RQ has not started
    return {"status": "queued", "run_id": latest.id if latest else None}

"""Debounced retraining after new orders: at most one training per shop per interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun, Shop, aware
from posai_app.queue import get_queue, get_redis
from posai_app.shops.settings import shop_setting
from posai_app.tenancy import of_shop
from posai_app.training.services import TRAIN_JOB, request_training, train_job_id


def request_debounced_retrain(shop_id: int) -> str:
    """Schedule a retrain for when the shop's interval has passed; returns what was done.

    With Redis: the first new order of a quiet period sets a key for the interval and
    schedules one train job at its end, so a burst of orders costs one training.
    Inline (no Redis): retrain now if the last run is older than the interval.
    """
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        return "no_shop"
    interval = timedelta(minutes=max(1, int(shop_setting(shop, "retrain_interval_minutes"))))
    redis = get_redis()
    if redis is None:
        last = db.session.scalar(
            sa.select(sa.func.max(EvaluationRun.started_at)).where(of_shop(EvaluationRun, shop_id))
        )
        if last is not None and aware(last) > datetime.now(UTC) - interval:
            return "debounced"
        request_training(shop_id, "new_orders")
        return "queued"
    key = f"posai:retrain-debounce:{shop_id}"
    if not redis.set(key, "1", nx=True, ex=int(interval.total_seconds())):
        return "debounced"
    get_queue("train").enqueue_in(
        interval,
        TRAIN_JOB,
        shop_id,
        "new_orders",
        job_id=f"{train_job_id(shop_id)}-debounced",
        job_timeout=3600,
    )
    return "scheduled"

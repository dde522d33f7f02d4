"""The train job: one shop, safe to run twice, publishes atomically.

Enqueued (coalesced per shop as job id `train-{shop_id}`) after the initial sync,
debounced after new orders, nightly, and on demand (`posai train`, admin page).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.heartbeat import heartbeat
from posai_app.models import EvaluationRun, ModelStatus, RunStatus, Shop, utcnow
from posai_app.serving import store
from posai_app.tenancy import of_shop
from posai_app.training import services as training_services
from posai_app.training.baskets import load_history

log = logging.getLogger(__name__)

INSUFFICIENT_MESSAGE = (
    "Not enough multi-item orders yet: POSAI learns from orders with two or more items. "
    "Until then the POS gets your recent bestsellers."
)
TOP_N = 50
PROGRESS_EVERY_SECONDS = 1.0


def train_shop(
    shop_id: int, trigger: str = "manual", progress: Callable[[str, int, int], None] | None = None
) -> int | None:
    """Train one shop and publish its index; returns the run's id, its number within the shop
    (None if the shop is gone)."""
    shop = db.session.get(Shop, shop_id)
    if shop is None or not shop.is_installed:
        log.info("train_shop: shop %s is gone or uninstalled; nothing to do", shop_id)
        return None
    config = store.config_for(shop_id)
    run = EvaluationRun(
        shop_id=shop_id,
        status=RunStatus.RUNNING,
        trigger=trigger,
        k=config.k,
        progress={"phase": "loading", "done": 0, "total": 0},
    )
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    started = time.perf_counter()
    with _heartbeat(shop_id, run_id):
        return _train_run(shop_id, run_id, config, started, progress)


def _train_run(shop_id: int, run_id: int, config, started: float, progress) -> int:
    try:
        history = load_history(shop_id)
        if not (history.lengths >= 2).any():
            _publish_insufficient(shop_id, run_id, history, time.perf_counter() - started)
            return run_id
        reporter = _progress_reporter(shop_id, run_id, progress)
        from posai_app import reco

        result = reco.train(history, k=config.k, top_n=TOP_N, progress=reporter)
        _publish(shop_id, run_id, result, history, time.perf_counter() - started)
        return run_id
    except Exception as exc:
        db.session.rollback()
        _mark_failed(shop_id, run_id, exc, time.perf_counter() - started)
        raise


def _heartbeat(shop_id: int, run_id: int):
    """Write the run's `heartbeat_at` every HEARTBEAT_SECONDS (and at once) while the job works.

    When the worker dies, the heartbeat stops with it and `running_run` retires the run.
    """
    return heartbeat(
        f"train-heartbeat-{shop_id}-{run_id}",
        lambda: (
            sa.update(EvaluationRun)
            .where(of_shop(EvaluationRun, shop_id), EvaluationRun.id == run_id)
            .values(heartbeat_at=utcnow())
        ),
        training_services.HEARTBEAT_SECONDS,
        beat_at_start=True,
    )


def _progress_reporter(shop_id: int, run_id: int, echo: Callable | None) -> Callable[[str, int, int], None]:
    """Record progress on the run row (for the admin page) at most once a second."""
    last = [0.0]

    def report(phase: str, done: int, total: int) -> None:
        if echo is not None:
            echo(phase, done, total)
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS and done < total:
            return
        last[0] = now
        db.session.execute(
            sa.update(EvaluationRun)
            .where(of_shop(EvaluationRun, shop_id), EvaluationRun.id == run_id)
            .values(progress={"phase": phase, "done": int(done), "total": int(total)})
        )
        db.session.commit()

    return report


def _arms(result, live_choice: str | None) -> tuple[tuple, tuple | None]:
    """(champion, challenger) as (metric, params, index): the run's choice and its runner-up,
    traded when live traffic made the runner-up live (the config's `live_choice`)."""
    chosen = (result.metric, getattr(result, "params", None), result.index)
    runner_up = getattr(result, "runner_up", None)
    index = getattr(result, "runner_up_index", None)
    if runner_up is None or index is None:
        return chosen, None
    other = (runner_up, result.runner_up_params, index)
    return (other, chosen) if live_choice == runner_up else (chosen, other)


def _publish(shop_id: int, run_id: int, result, history, seconds: float) -> None:
    """Swap the shop's indexes (posai_app.serving.store), config and run in one transaction."""
    report = result.report.to_dict()
    config = store.config_for(shop_id)
    champion, challenger = _arms(result, config.live_choice)
    if config.live_choice not in (champion[0], challenger and challenger[0]):
        # The scorer live traffic chose is no longer one of this run's two best: training's choice.
        config.live_choice = None
    config = store.publish(
        shop_id,
        champion[2],
        history,
        metric=champion[0],
        challenger=store.ChallengerIndex(challenger[0], challenger[2]) if challenger else None,
    )
    config.metric = champion[0]
    config.params = _jsonable(champion[1])
    config.challenger_params = _jsonable(challenger[1]) if challenger else None
    config.train_orders = int(result.train_orders)
    config.status = ModelStatus.TRAINED
    config.status_message = None
    run = db.session.get(EvaluationRun, (shop_id, run_id))
    run.status = RunStatus.SUCCEEDED
    run.finished_at = datetime.now(UTC)
    run.train_orders = report.get("trainOrders")
    run.evaluated_orders = report.get("evaluatedOrders")
    run.results = _jsonable(report)
    run.chosen_metric = result.metric
    run.duration_seconds = seconds
    run.progress = {"phase": "done", "done": 1, "total": 1}
    db.session.commit()
    log.info("trained shop %s: metric=%s in %.1fs", shop_id, result.metric, seconds)


def _publish_insufficient(shop_id: int, run_id: int, history, seconds: float) -> None:
    """No pairs to learn from: publish no index, only the stats, so the API serves bestsellers."""
    config = store.publish(shop_id, None, history)
    config.challenger_params = None
    config.live_choice = None
    config.status = ModelStatus.INSUFFICIENT_DATA
    config.status_message = INSUFFICIENT_MESSAGE
    config.metric = None
    run = db.session.get(EvaluationRun, (shop_id, run_id))
    run.status = RunStatus.INSUFFICIENT_DATA
    run.error = INSUFFICIENT_MESSAGE
    run.train_orders = history.n_orders
    run.evaluated_orders = 0
    run.finished_at = datetime.now(UTC)
    run.duration_seconds = seconds
    run.progress = {"phase": "done", "done": 1, "total": 1}
    db.session.commit()


def _mark_failed(shop_id: int, run_id: int, exc: Exception, seconds: float) -> None:
    db.session.execute(
        sa.update(EvaluationRun)
        .where(of_shop(EvaluationRun, shop_id), EvaluationRun.id == run_id)
        .values(
            status=RunStatus.FAILED,
            error=f"{exc.__class__.__name__}: {exc}"[:2000],
            finished_at=datetime.now(UTC),
            duration_seconds=seconds,
        )
    )
    db.session.commit()


def _jsonable(value):
    """Plain JSON types only (numpy scalars and tuples creep in from the engine)."""
    import json

    if value is None:
        return None
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))

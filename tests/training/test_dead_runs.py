"""A training run whose worker died is known by its stopped heartbeat within a minute (not a
two-hour limit): it is marked failed, says so, and no longer blocks a new run (issue: hardening)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun
from posai_app.training import jobs
from posai_app.training import services as training
from tests.admin import shopdata


def _run(shop_id: int, **values) -> int:
    run = EvaluationRun(shop_id=shop_id, status="running", k=2, **values)
    db.session.add(run)
    db.session.commit()
    return run.id


def test_a_run_without_a_heartbeat_for_a_minute_is_dead_and_does_not_block(app, shop, monkeypatch):
    queued = []
    monkeypatch.setattr(training, "enqueue", lambda *a, **k: queued.append(a))
    with app.app_context():
        two_minutes_ago = datetime.now(UTC) - timedelta(minutes=2)
        run_id = _run(
            shop.id, started_at=two_minutes_ago - timedelta(minutes=5), heartbeat_at=two_minutes_ago
        )
        assert training.request_training(shop.id, "admin")["status"] == "queued"
        assert len(queued) == 1
        run = db.session.get(EvaluationRun, (shop.id, run_id))
        assert run.status == "failed"
        assert "stopped" in run.error and run.finished_at is not None


def test_a_run_with_a_recent_heartbeat_blocks_a_second_one(app, shop, monkeypatch):
    monkeypatch.setattr(training, "enqueue", lambda *a, **k: None)
    with app.app_context():
        run_id = _run(
            shop.id,
            started_at=datetime.now(UTC) - timedelta(minutes=30),  # long, but still beating
            heartbeat_at=datetime.now(UTC) - timedelta(seconds=5),
        )
        assert training.request_training(shop.id, "admin") == {"status": "already_running", "run_id": run_id}


def test_the_train_job_beats_while_it_works(app, shop, monkeypatch):
    monkeypatch.setattr(training, "HEARTBEAT_SECONDS", 0.05)
    from posai_app import reco

    real_train = reco.train
    seen: list = []

    def slow_train(*args, **kwargs):
        time.sleep(0.4)
        seen.append(
            db.session.scalar(sa.select(EvaluationRun.heartbeat_at))
        )  # its own session: committed beats
        return real_train(*args, **kwargs)

    monkeypatch.setattr(reco, "train", slow_train)
    with app.app_context():
        shopdata.add_catalog(shop.id)
        shopdata.add_orders(shop.id)
        db.session.commit()
        run_id = jobs.train_shop(shop.id, "test")
        run = db.session.get(EvaluationRun, (shop.id, run_id))
        assert run.status == "succeeded"
        assert run.heartbeat_at is not None and seen and seen[0] is not None


def test_the_admin_page_stops_showing_a_dead_run_as_active(app, shop):
    with app.app_context():
        stale = datetime.now(UTC) - timedelta(minutes=2)
        shopdata.add_run(shop.id, status="running", started_at=stale)
        db.session.commit()
        from posai_app.admin.services import latest_run

        shown = latest_run(shop.id)
        # Never "running" but inactive: the page's status and its spinner tell one story.
        assert shown["active"] is False and shown["status"] == "failed"
        assert shown["error"].startswith("The worker running this training stopped")

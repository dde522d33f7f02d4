"""A sync whose worker died is known by its stopped heartbeat within a minute, shown as
interrupted and queued again; a live one is left alone (issue #21). End to end, with a real
worker SIGKILLed mid-sync: tests/deploy/test_killed_worker.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest import sync
from posai_app.ingest.sync_state import get_sync_state, sync_states
from posai_app.models import SyncState, SyncStatus
from posai_app.schedule import resume_interrupted_jobs


def _running(shop_id: int, seconds_ago: float) -> None:
    state = get_sync_state(shop_id, "orders")
    state.status = SyncStatus.RUNNING
    state.phase = "importing"
    db.session.commit()
    db.session.execute(
        sa.update(SyncState)
        .where(SyncState.shop_id == shop_id, SyncState.resource == "orders")
        .values(updated_at=datetime.now(UTC) - timedelta(seconds=seconds_ago))
    )
    db.session.commit()


def test_a_silent_running_sync_is_interrupted_and_queued_again(app, shop, other_shop, monkeypatch):
    queued = []
    monkeypatch.setattr(sync, "enqueue", lambda *a, **k: queued.append((a[2], k)))
    with app.app_context():
        _running(shop.id, 90)
        _running(other_shop.id, 5)  # still beating
        assert sync_states(shop.id)["orders"]["interrupted"] is True
        assert sync_states(shop.id)["orders"]["active"] is False
        assert sync_states(other_shop.id)["orders"]["interrupted"] is False
        assert resume_interrupted_jobs() == {"syncs": 1, "trainings": 0}
    assert [shop_id for shop_id, _ in queued] == [shop.id]
    assert queued[0][1]["replace_started"] is True and queued[0][1]["coalesce"] is True


def test_a_running_sync_beats_while_it_works(app, shop, monkeypatch):
    from posai_app.ingest import sync_state

    monkeypatch.setattr(sync_state, "HEARTBEAT_SECONDS", 0.05)
    with app.app_context():
        _running(shop.id, 600)
        with sync._heartbeat(shop.id):
            import time

            time.sleep(0.5)
        db.session.rollback()
        assert sync_states(shop.id)["orders"]["active"] is True

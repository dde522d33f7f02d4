"""Retrain and resync from the page: progress polling, failure reasons, retry, double-submit safety."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.ingest.sync import SYNC_JOB_TIMEOUT
from posai_app.models import EvaluationRun
from posai_app.queue import RETRY, wait_for_inline_jobs
from tests.admin import shopdata


def _runs(app, shop_id: int) -> list[EvaluationRun]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(EvaluationRun).where(EvaluationRun.shop_id == shop_id).order_by(EvaluationRun.id)
        ).all()
        db.session.expunge_all()
        return list(rows)


def _poll_url(html: str) -> str | None:
    """The fast-poll URL while a job is followed (None when only the slow 30 s check runs)."""
    match = re.search(r'<section class="card" id="status"[^>]*hx-get="([^"]+)" hx-trigger="every 1s"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def test_running_training_shows_progress_and_polls(app, client, shop, hx):
    with app.app_context():
        shopdata.add_run(
            shop.id, status="running", progress={"phase": "evaluating", "done": 30, "total": 120}
        )
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html
    assert "evaluating (30 of 120)" in html
    assert '<progress max="100" value="25"' in html
    retrain = html.split('id="retrain-button"', 1)[1].split(">", 1)[0]
    assert "disabled" in retrain


def test_finished_job_stops_polling_and_refreshes_the_report_once(app, client, shop, hx):
    with app.app_context():
        run = shopdata.add_run(shop.id, status="running")
        db.session.commit()
        run_id = run.id
    first = client.get("/app/status", headers=hx(shop))
    poll = _poll_url(first.get_data(as_text=True))
    assert poll and "active=1" in poll
    assert "HX-Trigger" not in first.headers
    with app.app_context():
        row = db.session.get(EvaluationRun, (shop.id, run_id))
        row.status, row.finished_at, row.results = "succeeded", datetime.now(UTC), shopdata.report()
        row.chosen_metric = "cosine"
        db.session.commit()
    done = client.get(poll, headers=hx(shop))
    assert done.headers["HX-Trigger"] == "report-changed"
    assert _poll_url(done.get_data(as_text=True)) is None
    # A plain status request (not following a job) does not re-trigger.
    assert "HX-Trigger" not in client.get("/app/status", headers=hx(shop)).headers


def test_failed_training_shows_the_reason_and_a_retry(app, client, shop, hx):
    with app.app_context():
        shopdata.add_run(shop.id, status="failed", error="MemoryError: worker ran out of memory")
        db.session.commit()
    html = client.get("/app", headers=hx(shop)).get_data(as_text=True)
    assert "MemoryError: worker ran out of memory" in html
    assert "Retry training" in html


def test_a_dead_running_run_is_shown_stopped_and_queued_again(app, client, shop, hx, monkeypatch):
    """A run whose worker died is not shown "running": the status poll retires it and trains again."""
    calls = []
    monkeypatch.setattr("posai_app.training.services.enqueue", lambda *a, **k: calls.append((a, k)))
    with app.app_context():
        shopdata.add_run(shop.id, status="running", started_at=datetime.now(UTC) - timedelta(hours=3))
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert "stopped with its worker" in html and "Queued again" in html
    assert [a[3] for a, _ in calls] == ["resume"] and calls[0][1]["replace_started"] is True
    assert [r.status for r in _runs(app, shop.id)] == ["failed"]


def test_retrain_while_running_starts_nothing_new(app, client, shop, hx, monkeypatch):
    calls = []
    monkeypatch.setattr("posai_app.training.services.enqueue", lambda *a, **k: calls.append(a))
    with app.app_context():
        shopdata.add_run(shop.id, status="running")
        db.session.commit()
    response = client.post("/app/retrain", headers=hx(shop))
    assert response.status_code == 200
    assert "already in progress" in response.get_data(as_text=True)
    assert calls == []
    assert len(_runs(app, shop.id)) == 1


def test_double_clicked_retrain_enqueues_one_job(app, client, stocked_shop, hx, requires_redis):
    from rq import Queue

    from posai_app.queue import get_redis

    first = client.post("/app/retrain", headers=hx(stocked_shop))
    second = client.post("/app/retrain", headers=hx(stocked_shop))
    assert first.status_code == second.status_code == 200
    html = first.get_data(as_text=True)
    assert "Queued: waiting for a worker" in html
    poll = _poll_url(html)
    assert poll and "train_after=0" in poll
    with app.app_context():
        assert Queue("train", connection=get_redis()).count == 1
    # still queued on the next poll
    assert "Queued: waiting for a worker" in client.get(poll, headers=hx(stocked_shop)).get_data(as_text=True)


def test_retrain_then_poll_until_the_new_run_is_shown(app, client, reported_shop, hx, run_jobs, monkeypatch):
    monkeypatch.setitem(app.config, "INLINE_JOBS_IN_BACKGROUND", True)  # as in `make demo` (no Redis)
    before = len(_runs(app, reported_shop.id))
    response = client.post("/app/retrain", headers=hx(reported_shop))
    assert response.status_code == 200
    poll = _poll_url(response.get_data(as_text=True))
    assert poll, "the page follows the requested training"
    run_jobs()  # RQ; without Redis the job runs in a thread of the web process
    wait_for_inline_jobs()
    final = client.get(poll, headers=hx(reported_shop))
    assert final.headers.get("HX-Trigger") == "report-changed"
    runs = _runs(app, reported_shop.id)
    assert len(runs) == before + 1
    assert runs[-1].status == "succeeded" and runs[-1].trigger == "admin"
    report = client.get("/app/report", headers=hx(reported_shop)).get_data(as_text=True)
    assert f"run #{runs[-1].id}" in report


def test_sync_progress_is_shown_with_counts(app, client, shop, hx):
    with app.app_context():
        shopdata.add_sync(shop.id, "products", status="done", processed_count=3912)
        shopdata.add_sync(
            shop.id, "orders", status="running", phase="importing", processed_count=12400, total_count=19773
        )
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert "Importing: 12,400 of 19,773 orders…" in html
    assert "Products: 3,912 imported" in html
    assert _poll_url(html)
    assert "Syncing…" in html


def test_failed_sync_shows_the_reason_and_a_retry(app, client, shop, hx):
    with app.app_context():
        shopdata.add_sync(
            shop.id, "orders", status="failed", last_error="Shopify answered 401: access revoked"
        )
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert "Shopify answered 401: access revoked" in html
    assert "Retry sync" in html


def test_resync_enqueues_one_coalesced_sync_job(app, client, shop, hx, monkeypatch):
    calls = []
    monkeypatch.setattr("posai_app.ingest.sync.enqueue", lambda *a, **k: calls.append((a, k)))
    response = client.post("/app/resync", headers=hx(shop))
    assert response.status_code == 200
    wait_for_inline_jobs()
    # One job per shop, coalesced by id (without Redis a web-process thread makes the same call).
    expected = {
        "job_id": f"sync-{shop.id}",
        "coalesce": True,
        "job_timeout": SYNC_JOB_TIMEOUT,
        "retry": RETRY,
        "replace_started": True,  # replaces only a started job whose worker stopped reporting
    }
    assert calls == [(("ingest", "posai_app.ingest.sync.sync_shop", shop.id), expected)]
    html = response.get_data(as_text=True)
    assert "Queued: waiting for a worker to start the sync" in html
    assert "sync_since=" in _poll_url(html)


def test_resync_while_syncing_starts_nothing_new(app, client, shop, hx, monkeypatch):
    calls = []
    monkeypatch.setattr("posai_app.ingest.sync.enqueue", lambda *a, **k: calls.append(a))
    with app.app_context():
        shopdata.add_sync(shop.id, "orders", status="running", processed_count=10)
        db.session.commit()
    response = client.post("/app/resync", headers=hx(shop))
    assert response.status_code == 200
    assert "already in progress" in response.get_data(as_text=True)
    assert calls == []


def test_double_clicked_resync_enqueues_one_job(app, client, shop, hx, requires_redis, monkeypatch):
    from rq import Queue

    from posai_app.queue import get_redis

    client.post("/app/resync", headers=hx(shop))
    client.post("/app/resync", headers=hx(shop))
    with app.app_context():
        queue = Queue("ingest", connection=get_redis())
        assert queue.job_ids == [f"sync-{shop.id}"]


def test_jobs_of_another_shop_are_invisible(app, client, shop, other_shop, hx):
    with app.app_context():
        shopdata.add_run(other_shop.id, status="failed", error="beta failure reason")
        shopdata.add_sync(other_shop.id, "orders", status="running", processed_count=77777, total_count=99999)
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert "beta failure reason" not in html and "77,777" not in html
    assert _poll_url(html) is None


def test_requested_sync_is_followed_until_the_job_has_written(app, client, shop, hx, monkeypatch):
    monkeypatch.setattr("posai_app.ingest.sync.enqueue", lambda *a, **k: None)
    with app.app_context():  # an earlier, resumed sync: started long ago
        day_ago = datetime.now(UTC) - timedelta(days=1)
        shopdata.add_sync(shop.id, "orders", status="failed", started_at=day_ago, updated_at=day_ago)
        db.session.commit()
    poll = _poll_url(client.post("/app/resync", headers=hx(shop)).get_data(as_text=True))
    wait_for_inline_jobs()
    assert "Queued" in client.get(poll, headers=hx(shop)).get_data(as_text=True)
    with app.app_context():
        from posai_app.models import SyncState

        state = db.session.scalar(sa.select(SyncState).where(SyncState.shop_id == shop.id))
        state.status, state.processed_count = "done", 41
        db.session.commit()
    done = client.get(poll, headers=hx(shop))
    assert done.headers["HX-Trigger"] == "report-changed"
    assert _poll_url(done.get_data(as_text=True)) is None


def test_idle_page_checks_slowly_and_picks_up_a_job_started_elsewhere(app, client, shop, hx):
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert 'hx-trigger="every 30s"' in html and _poll_url(html) is None
    with app.app_context():  # e.g. a debounced retrain after new orders
        shopdata.add_run(shop.id, status="running")
        db.session.commit()
    html = client.get("/app/status", headers=hx(shop)).get_data(as_text=True)
    assert "active=1" in _poll_url(html)


def test_double_clicked_retrain_without_redis_runs_one_job(app, client, shop, hx, monkeypatch):
    import threading

    calls, release = [], threading.Event()

    def slow_training(shop_id, trigger):
        calls.append((shop_id, trigger))
        release.wait(10)

    monkeypatch.setattr("posai_app.admin.services.get_redis", lambda: None)
    monkeypatch.setattr("posai_app.queue.get_redis", lambda: None)
    monkeypatch.setattr("posai_app.training.jobs.train_shop", slow_training)
    monkeypatch.setitem(app.config, "INLINE_JOBS_IN_BACKGROUND", True)  # as in `make demo`
    first = client.post("/app/retrain", headers=hx(shop))
    second = client.post("/app/retrain", headers=hx(shop))
    release.set()
    wait_for_inline_jobs()
    assert first.status_code == second.status_code == 200
    assert "already in progress" in second.get_data(as_text=True)
    assert calls == [(shop.id, "admin")]


def test_a_bulk_query_started_ahead_is_neither_the_sync_starting_nor_an_import(app, client, shop, hx):
    """The sync starts the orders bulk query before it reads products (ingest.sync), leaving the
    orders row idle: the page still says the requested sync is queued until the job really
    starts, and then says Shopify is preparing the orders export (found by review)."""
    requested = datetime.now(UTC).timestamp()
    with app.app_context():
        shopdata.add_sync(
            shop.id,
            "orders",
            status="idle",
            phase="bulk_running",
            bulk_operation_id="gid://shopify/BulkOperation/1",
        )
        db.session.commit()
    html = client.get(f"/app/status?sync_since={requested}", headers=hx(shop)).get_data(as_text=True)
    assert "Queued: waiting for a worker to start the sync" in html
    assert "Orders: Shopify is preparing the export; it is imported next." in html
    with app.app_context():
        shopdata.add_sync(shop.id, "products", status="running", phase="bulk_running")
        db.session.commit()
    html = client.get(f"/app/status?sync_since={requested}", headers=hx(shop)).get_data(as_text=True)
    assert "Queued: waiting for a worker" not in html

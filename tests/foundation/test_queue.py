"""Jobs run inline without Redis and through RQ with it; coalescing folds duplicates."""

from posai_app.queue import enqueue, get_queue

CALLS: list[tuple] = []


def record_call(value: int) -> None:
    CALLS.append((value,))


def test_without_redis_jobs_run_inline(make_app):
    CALLS.clear()
    inline_app = make_app(REDIS_URL=None)
    with inline_app.app_context():
        assert enqueue("default", "tests.foundation.test_queue.record_call", 7) is None
    assert CALLS == [(7,)]


def test_coalesced_job_is_enqueued_once_while_pending(app, requires_redis, run_jobs):
    CALLS.clear()
    with app.app_context():
        first = enqueue("train", record_call, 1, job_id="train-1", coalesce=True)
        second = enqueue("train", record_call, 1, job_id="train-1", coalesce=True)
        assert first == second == "train-1"
        assert get_queue("train").count == 1
    run_jobs()
    assert CALLS == [(1,)]
    with app.app_context():  # once it has run, the same id can be enqueued again
        assert enqueue("train", record_call, 2, job_id="train-1", coalesce=True) == "train-1"
        assert get_queue("train").count == 1


def test_a_started_job_is_replaced_only_when_its_worker_stopped_reporting(app, requires_redis):
    """A coalesced job id held by a job whose worker died (SIGKILL) no longer swallows new requests."""
    from datetime import UTC, datetime, timedelta

    from rq.job import Job

    from posai_app import queue

    with app.app_context():
        job_id = queue.enqueue("default", "posai_app.schedule.run_nightly", job_id="dead-1", coalesce=True)
        job = Job.fetch(job_id, connection=queue.get_redis())
        job.set_status("started")
        job.heartbeat(datetime.now(UTC) - timedelta(seconds=5), 90)
        # Alive (RQ's heartbeat is recent): folded into it, as before.
        assert (
            queue.enqueue("default", "x.y", job_id="dead-1", coalesce=True, replace_started=True) == "dead-1"
        )
        assert Job.fetch("dead-1", connection=queue.get_redis()).func_name == "posai_app.schedule.run_nightly"
        job.heartbeat(datetime.now(UTC) - timedelta(minutes=5), 90)
        assert queue.enqueue("default", "x.y", job_id="dead-1", coalesce=True) == "dead-1"  # not asked to
        queue.enqueue("default", "x.y", job_id="dead-1", coalesce=True, replace_started=True)
        replaced = Job.fetch("dead-1", connection=queue.get_redis())
        assert replaced.func_name == "x.y" and replaced.get_status() == "queued"

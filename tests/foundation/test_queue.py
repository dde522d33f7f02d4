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

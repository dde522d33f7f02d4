"""Background jobs: RQ on Redis when REDIS_URL is set, otherwise inline in-process.

Without Redis, a job enqueued from a web request runs in a background thread of that
process, one at a time per job id (fine for the demo and development; production sets
REDIS_URL); INLINE_JOBS_IN_BACKGROUND=False runs it inside the request instead (tests).
Job functions are plain module-level functions taking ids and plain values, called
by dotted path ("posai_app.ingest.sync.sync_shop"), so the web process never imports
heavy job code just to enqueue. Inline jobs run in a fresh app context (their own
database session), so callers must commit before enqueueing — as they would with RQ.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, has_request_context

log = logging.getLogger(__name__)

# The retry policy of every job that is safe to run again: (attempts, seconds between them).
RETRY = (3, [10, 60, 300])
# Statuses in which an existing job with the same id still counts as "pending".
_PENDING = {"queued", "started", "deferred", "scheduled"}


def init_queue(app: Flask) -> None:
    app.extensions["posai_redis"] = None
    url = app.config.get("REDIS_URL")
    if url:
        from redis import Redis

        # Deadlines: a Redis that hangs must not hold a request past Shopify's limits (5 s for
        # webhooks). RQ's worker raises socket_timeout above its dequeue wait by itself.
        app.extensions["posai_redis"] = Redis.from_url(
            url,
            socket_connect_timeout=float(app.config.get("REDIS_CONNECT_TIMEOUT", 1.0)),
            socket_timeout=float(app.config.get("REDIS_SOCKET_TIMEOUT", 2.0)),
        )


@contextmanager
def jobs_inline(app: Flask) -> Iterator[None]:
    """Within the block, this app's jobs run inline in the calling thread, Redis or not (the
    demo's replay: its figures must be there when it returns); as configured again after."""
    saved = app.extensions.get("posai_redis"), app.config.get("INLINE_JOBS_IN_BACKGROUND", True)
    app.extensions["posai_redis"] = None
    app.config["INLINE_JOBS_IN_BACKGROUND"] = False
    try:
        yield
    finally:
        app.extensions["posai_redis"], app.config["INLINE_JOBS_IN_BACKGROUND"] = saved


def get_redis():
    """The app's Redis connection, or None when jobs run inline."""
    return current_app.extensions.get("posai_redis")


def get_queue(name: str):
    from rq import Queue

    redis = get_redis()
    if redis is None:
        raise RuntimeError("no REDIS_URL configured: jobs run inline")
    return Queue(name, connection=redis)


def resolve(func: str | Callable) -> Callable:
    if callable(func):
        return func
    module, _, attr = func.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def enqueue(
    queue: str,
    func: str | Callable,
    *args: Any,
    job_id: str | None = None,
    coalesce: bool = False,
    retry: tuple[int, list[int]] | None = None,
    job_timeout: int | None = None,
    replace_started: bool = False,
    description: str | None = None,
    **kwargs: Any,
) -> str | None:
    """Run func(*args, **kwargs) as a job; returns the job id (None when run inline).

    coalesce=True with a job_id: if a job with that id is queued or running, nothing
    new is enqueued (a second "retrain" click or webhook burst folds into the first).
    replace_started=True: the caller knows (from the job's own heartbeat) that the "started"
    job with that id died with its worker; it is removed, so RQ neither retries it later
    nor lets it block this one, and the new job is enqueued.
    description: what RQ's worker logs and stores for the job, instead of its default, the
    repr of the whole call (a webhook's payload would be written to Redis and the log twice).
    """
    if get_redis() is None:
        _run_inline(func, args, kwargs, job_id)
        return None
    from rq import Retry
    from rq.exceptions import DuplicateJobError, NoSuchJobError
    from rq.job import Job

    q = get_queue(queue)
    options: dict[str, Any] = {"job_id": job_id}
    if retry:
        options["retry"] = Retry(max=retry[0], interval=retry[1])
    if job_timeout:
        options["job_timeout"] = job_timeout
    if description:
        options["description"] = description
    if coalesce:
        if not job_id:
            raise ValueError("coalesce=True needs a job_id")
        options["unique"] = True
        options["result_ttl"] = 0
    target = func if isinstance(func, str) else f"{func.__module__}.{func.__qualname__}"
    if not coalesce:
        # One round trip (MULTI … EXEC): RQ alone sends the queue's registration and the job
        # in two. The webhook endpoint enqueues once per delivery; see docs/ingestion.md.
        with q.connection.pipeline() as pipe:
            job = q.enqueue(target, *args, **kwargs, **options, pipeline=pipe)
            pipe.execute()
        return job.id
    try:
        return q.enqueue(target, *args, **kwargs, **options).id
    except DuplicateJobError:
        try:
            existing = Job.fetch(job_id, connection=q.connection)
            status = existing.get_status(refresh=True)
            status = getattr(status, "value", status)
        except NoSuchJobError:
            status = None
        if status == "started" and replace_started and _abandoned(existing):
            _forget_abandoned(existing)
            status = None
        if status in _PENDING:
            return job_id
        # A finished or failed job with this id blocks `unique`; clear it and enqueue anew.
        if status is not None:
            existing.delete()
        try:
            return q.enqueue(target, *args, **kwargs, **options).id
        except DuplicateJobError:  # lost a race with another enqueuer: theirs stands
            return job_id


# RQ's worker writes a started job's `last_heartbeat` every 30 s (its job_monitoring_interval).
ABANDONED_AFTER = 60.0


def _abandoned(job) -> bool:
    """A started job whose worker has not reported for ABANDONED_AFTER: it died (SIGKILL, OOM)."""
    from datetime import UTC, datetime

    seen = job.last_heartbeat or job.started_at
    if seen is None:
        return True
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=UTC)
    return (datetime.now(UTC) - seen).total_seconds() > ABANDONED_AFTER


def _forget_abandoned(job) -> None:
    """Remove a job whose worker died: its entry in the started registry, then the job itself."""
    from rq.registry import StartedJobRegistry

    registry = StartedJobRegistry(job.origin, connection=job.connection)
    registry.remove_executions(job)
    job.delete(remove_from_queue=True)
    log.warning("job %s: its worker died mid-run; removed so that it can be queued again", job.id)


_inline_threads: dict[str, threading.Thread] = {}
_inline_lock = threading.Lock()


def _run_inline(func: str | Callable, args: tuple, kwargs: dict, job_id: str | None = None) -> None:
    """Run a job in this process. From a web request it runs in a thread (unless the app sets
    INLINE_JOBS_IN_BACKGROUND=False), so the response returns at once and the page can poll
    progress, as with a worker; a job whose id is already running in a thread is not started again."""
    app = current_app._get_current_object()
    fn = resolve(func)

    def run() -> None:
        with app.app_context():
            from posai_app.extensions import db

            try:
                fn(*args, **kwargs)
            except Exception:
                db.session.rollback()
                log.exception("inline job %s failed", getattr(fn, "__name__", fn))
            finally:
                db.session.remove()

    if not (has_request_context() and app.config.get("INLINE_JOBS_IN_BACKGROUND", True)):
        run()
        return
    with _inline_lock:
        if job_id is not None and inline_job_running(job_id):
            return
        thread = threading.Thread(
            target=run, name=f"inline-job-{job_id or getattr(fn, '__name__', 'job')}", daemon=True
        )
        if job_id is not None:
            _inline_threads[job_id] = thread
        thread.start()


def inline_job_running(job_id: str) -> bool:
    """Whether this process runs the inline job with this id in a background thread right now."""
    thread = _inline_threads.get(job_id)
    return thread is not None and thread.is_alive()


def wait_for_inline_jobs(timeout: float = 120.0) -> None:
    """Join this process's inline job threads (tests, and an orderly shutdown)."""
    deadline = time.monotonic() + timeout
    with _inline_lock:
        threads = list(_inline_threads.values())
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))

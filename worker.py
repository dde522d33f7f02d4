"""RQ worker: builds the app once, pushes an app context, works the queues.

Run `python worker.py [queue ...]`. Jobs are functions that take ids; they use the
app context pushed here. The scheduler runs periodic jobs (nightly retrain and
reconciliation) registered by `posai_app.schedule`.
"""

from __future__ import annotations

import logging
import os
import signal
import sys

MAINTENANCE_SECONDS = 60


class _StopDuringStartUp:
    """SIGTERM/SIGINT before RQ installs its own handlers (it does so only after starting its
    scheduler, after logging "Listening on ..."): remember the request instead of dying cold,
    and hand it to the worker, whose loop then stops warmly before taking any job."""

    def __init__(self) -> None:
        self.requested = False
        self.worker = None
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request)

    def _request(self, _signum, _frame) -> None:
        self.requested = True
        if self.worker is not None:
            self.worker._stop_requested = True  # what RQ's own handler sets; its loop checks it first

    def hand_to(self, worker) -> None:
        self.worker = worker
        if self.requested:
            worker._stop_requested = True


def _resume_interrupted_jobs() -> None:
    """At each maintenance pass: queue again syncs and trainings whose worker died (heartbeats),
    and the webhook inbox's entries whose drain died."""
    from rq.exceptions import StopRequested

    from posai_app.extensions import db
    from posai_app.schedule import resume_interrupted_jobs
    from posai_app.webhooks import drain

    log = logging.getLogger("posai_app.worker")
    try:
        for check, what in (
            (resume_interrupted_jobs, "interrupted jobs"),
            # Webhook entries a dead drain had taken go back to the inbox, and an inbox nobody
            # drains (its drain job refused or lost) gets a drain.
            (drain.recover, "the webhook inbox"),
        ):
            try:
                found = check()
                if any(found.values()):
                    log.warning("after a dead worker (%s): %s", what, found)
            except StopRequested:
                raise  # RQ's SIGTERM handler raises wherever the worker is: the warm stop must go on
            except Exception:
                log.exception("could not check %s", what)
    finally:
        # Forked work horses must not inherit this process's pooled connections.
        db.session.remove()
        db.engine.dispose()


def run_worker(queues: list[str] | None = None, *, burst: bool = False, settings: dict | None = None) -> None:
    """Work the queues; `settings` are create_app() overrides (tests point it at a fake Shopify)."""
    stop = _StopDuringStartUp()
    from rq import Worker

    from posai_app.config import JOB_SETTINGS
    from posai_app.factory import create_app
    from posai_app.metrics import record_ended_job
    from posai_app.queue import get_redis

    class PosaiWorker(Worker):
        def run_maintenance_tasks(self):
            super().run_maintenance_tasks()
            _resume_interrupted_jobs()

        # Each ended job's run time goes to the shared histogram /metrics exports (posai_app.metrics).
        def handle_job_success(self, job, queue, started_job_registry, execution):
            record_ended_job(self.connection, job, "finished")
            return super().handle_job_success(job, queue, started_job_registry, execution)

        def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
            record_ended_job(self.connection, job, "failed")
            return super().handle_job_failure(job, queue, started_job_registry, exc_string, execution)

        def handle_warm_shutdown_request(self):
            # RQ's handler then raises StopRequested wherever the idle worker is; raised inside a
            # __del__ (a Redis ConnectionPool's, seen in CI) Python ignores it and the loop went on
            # until SIGKILL. The flag makes the loop stop at its next check all the same.
            self._stop_requested = True
            super().handle_warm_shutdown_request()

        def teardown(self):
            # RQ's SIGTERM handler raises inside whatever Redis command is running (a registry
            # clean-up during start-up, say): that pooled connection keeps unread replies, and the
            # final bookkeeping on it failed ("Wrong number of response items") with exit 1.
            # Fresh connections make the warm stop clean.
            self.connection.connection_pool.disconnect()
            super().teardown()

    app = create_app({**JOB_SETTINGS, **(settings or {})})
    with app.app_context():
        redis = get_redis()
        if redis is None:
            sys.exit("REDIS_URL is not set: without Redis, jobs run inline in the web process.")
        names = queues or list(app.config["RQ_QUEUES"])
        logging.getLogger("posai_app.worker").info("worker starting on queues %s", ", ".join(names))
        from posai_app.schedule import register_periodic_jobs

        register_periodic_jobs()
        # Release pooled DB connections so forked work horses open their own.
        from posai_app.extensions import db

        db.engine.dispose()
        # RQ retries the scheduler lock only at its maintenance pass (every 10 min by default),
        # and an idle worker reaches that pass only between two blocking dequeues (each
        # worker_ttl - 15 s, 405 s by default): a worker restarted after a crash, whose
        # predecessor's lock (61 s TTL) was still there at start, would run no scheduler
        # (retries, debounced retrains, the nightly job) for up to 10 minutes. A pass and a
        # dequeue wait of a minute bring it up within two.
        maintenance = int(os.environ.get("POSAI_WORKER_MAINTENANCE_SECONDS", MAINTENANCE_SECONDS))
        worker = PosaiWorker(
            names, connection=redis, maintenance_interval=maintenance, worker_ttl=maintenance + 15
        )
        stop.hand_to(worker)
        worker.work(with_scheduler=True, burst=burst)


if __name__ == "__main__":
    run_worker(sys.argv[1:] or None)

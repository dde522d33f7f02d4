"""RQ worker: builds the app once, pushes an app context, works the queues.

Run `python worker.py [queue ...]`. Jobs are functions that take ids; they use the
app context pushed here. The scheduler runs periodic jobs (nightly retrain and
reconciliation) registered by `posai_app.schedule`.
"""

from __future__ import annotations

import sys


def run_worker(queues: list[str] | None = None, *, burst: bool = False) -> None:
    from rq import Worker

    from posai_app import create_app
    from posai_app.queue import get_redis

    app = create_app()
    with app.app_context():
        redis = get_redis()
        if redis is None:
            sys.exit("REDIS_URL is not set: without Redis, jobs run inline in the web process.")
        names = queues or list(app.config["RQ_QUEUES"])
        try:
            from posai_app.schedule import register_periodic_jobs
        except ModuleNotFoundError:
            register_periodic_jobs = None
        if register_periodic_jobs is not None:
            register_periodic_jobs()
        # Release pooled DB connections so forked work horses open their own.
        from posai_app.extensions import db

        db.engine.dispose()
        Worker(names, connection=redis).work(with_scheduler=True, burst=burst)


if __name__ == "__main__":
    run_worker(sys.argv[1:] or None)

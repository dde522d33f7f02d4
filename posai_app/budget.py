"""A long job's time budget: stop cleanly before RQ's job timeout and continue in a new job.

A first sync of a large shop can outlast any job timeout (RQ's default is 180 s). A job that
commits its progress as it goes runs its work through `run_within_budget`; its loops call
`check_time()` after each committed step. When the budget is spent, `OutOfTime` unwinds the
work, and a continuation job (the same function, with the keyword arguments `resume()`
returns) is queued with the same timeout and retry policy, and carries on from the last commit.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from posai_app.queue import RETRY, enqueue

log = logging.getLogger(__name__)


class OutOfTime(Exception):  # noqa: N818  (a signal, not an error)
    """The job's time budget is spent: progress is committed, a continuation is queued."""


_deadline: ContextVar[float | None] = ContextVar("posai_job_deadline", default=None)


def check_time() -> None:
    """Raise OutOfTime if the running job's budget is spent (a no-op outside a budget)."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise OutOfTime


def budget_for(timeout: float) -> float:
    """How long a job may work before handing over: most of its timeout, leaving time to commit."""
    return max(20.0, timeout * 0.8 - 15.0)


def run_within_budget(
    queue: str,
    job: str,
    shop_id: int,
    work: Callable[[], dict[str, Any]],
    resume: Callable[[], dict[str, Any]],
    budget_seconds: float | None = None,
) -> dict[str, Any]:
    """Run `work()`; if its budget runs out, queue `job(shop_id, **resume())` and say so.

    The budget is `budget_seconds` when given (it is handed on to the continuation), else
    derived from the current RQ job's timeout; outside RQ (inline jobs, the CLI) there is none.
    """
    timeout = _current_job_timeout()
    if budget_seconds is None and timeout is None:
        return work()
    budget = budget_seconds if budget_seconds is not None else budget_for(timeout or 0.0)
    token = _deadline.set(time.monotonic() + budget)
    try:
        return work()
    except OutOfTime:
        log.info("%s for shop %s: time budget spent, continuing in a new job", job, shop_id)
        extra = {} if budget_seconds is None else {"budget_seconds": budget_seconds}
        enqueue(
            queue,
            job,
            shop_id,
            job_id=f"{job.rsplit('.', 1)[-1]}-{shop_id}-continued-{uuid.uuid4().hex[:8]}",
            job_timeout=int(timeout) if timeout else None,
            retry=RETRY,
            **resume(),
            **extra,
        )
        return {"continued": True}
    finally:
        _deadline.reset(token)


def _current_job_timeout() -> float | None:
    from rq import get_current_job

    job = get_current_job()
    if job is None or job.timeout is None or float(job.timeout) <= 0:
        return None
    return float(job.timeout)

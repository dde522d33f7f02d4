"""A long job's heartbeat: a thread that writes "still alive" to the database every few seconds.

Syncs and training runs use it, so a run whose worker died (SIGKILL, OOM, a lost machine) is
recognised within a minute instead of looking busy for hours. The beat has its own connection
and transaction: the job's session may be mid-transaction for minutes. A missed beat is logged,
never the job's failure; when the worker dies, the beat dies with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app

from posai_app.extensions import db

log = logging.getLogger(__name__)


@contextmanager
def heartbeat(
    name: str, statement: Callable[[], sa.Executable], every: float, *, beat_at_start: bool = False
) -> Iterator[None]:
    """While the block runs, execute `statement()` every `every` seconds (first at once with
    `beat_at_start`) in a thread named `name`."""
    app = current_app._get_current_object()
    stop = threading.Event()

    def beat() -> None:
        with app.app_context():
            if beat_at_start:
                _beat_once(name, statement)
            while not stop.wait(every):
                _beat_once(name, statement)

    thread = threading.Thread(target=beat, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _beat_once(name: str, statement: Callable[[], sa.Executable]) -> None:
    try:
        with db.engine.begin() as conn:
            conn.execute(statement())
    except Exception:  # a missed beat is not the job's failure; the next one retries
        log.warning("%s: heartbeat not written this time", name)

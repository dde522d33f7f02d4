"""Training is deterministic: the same history gives the same report and index, whatever the load.

Nothing in train() may read a clock to decide: a busy machine (a CPU hog on every core) or a slow
clock must not change the choice, the parameters, the figures or the index, byte for byte.
"""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from posai_app.reco import train
from tests.reco.test_selection import synthetic


def serialized(result) -> bytes:
    """The report and the index exactly as they are stored (seconds are not part of either)."""
    report = json.dumps(result.report.to_dict(), sort_keys=True)
    rows = json.dumps([list(row) for row in result.index.to_rows()])
    return (report + "\n" + rows + "\n" + json.dumps(result.index.counts, sort_keys=True)).encode()


def _spin(stop) -> None:
    while not stop.is_set():
        pass


@pytest.fixture(scope="module")
def history():
    return synthetic(1200, 80, seed=3)


@pytest.fixture(scope="module")
def quiet_run(history):
    return serialized(train(history, k=2, top_n=10))


def test_a_cpu_hog_on_every_core_changes_nothing(history, quiet_run):
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    hogs = [context.Process(target=_spin, args=(stop,), daemon=True) for _ in range(2)]
    for hog in hogs:
        hog.start()
    try:
        busy_run = serialized(train(history, k=2, top_n=10))
    finally:
        stop.set()
        for hog in hogs:
            hog.join(10)
    assert busy_run == quiet_run


def test_a_slow_clock_changes_nothing(history, quiet_run, monkeypatch):
    """Every clock reading jumps a second ahead (a machine 'many times slower'): same answer."""
    now = [time.perf_counter()]

    def slow_clock() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(time, "perf_counter", slow_clock)
    assert serialized(train(history, k=2, top_n=10)) == quiet_run


def test_a_runaway_job_stops_with_a_clear_error(history):
    from posai_app.reco.selection import TrainingRunaway

    with pytest.raises(TrainingRunaway, match="limit 0s"):
        train(history, k=2, top_n=10, runaway_seconds=0.0)

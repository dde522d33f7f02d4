"""ingest.prefetch: a producer thread a bounded number of items ahead, and the GIL switch interval
it shortens while it runs."""

from __future__ import annotations

import sys
import threading

import pytest

from posai_app.ingest import prefetch


def test_items_come_in_order_and_a_producers_error_is_raised_here():
    def items():
        yield from range(5)
        raise ValueError("bad line")

    before = sys.getswitchinterval()
    out = []
    with pytest.raises(ValueError, match="bad line"):
        for item in prefetch.prefetched(items(), ahead=2):
            out.append(item)
    assert out == [0, 1, 2, 3, 4]
    assert sys.getswitchinterval() == before  # restored on the error's way out too


def test_closing_stops_the_producer_and_closes_its_source():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    items = prefetch.prefetched(endless(), ahead=1)
    assert next(items) == 0
    prefetch.close(items)
    assert closed.is_set()  # close() waited for the thread, which closed the generator


def test_the_switch_interval_is_short_while_producers_run_and_restored_after():
    before = sys.getswitchinterval()
    first = prefetch.prefetched(iter(range(3)), ahead=1)
    second = prefetch.prefetched(iter(range(3)), ahead=1)
    next(first)
    assert sys.getswitchinterval() <= 0.0005 < before
    next(second)
    prefetch.close(first)
    assert sys.getswitchinterval() <= 0.0005  # the other producer still runs
    assert list(second) == [1, 2]
    assert sys.getswitchinterval() == before

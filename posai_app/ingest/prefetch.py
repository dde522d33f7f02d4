"""Produce an iterator's items in a thread of their own, a bounded number ahead of the consumer.

The bulk importers parse a file (Python, holding the GIL) while the job's thread waits on
PostgreSQL writing the previous batch (a socket wait, without the GIL): on two cores the two
overlap. The queue bounds memory to `ahead` items, whatever the file's size.

While a producer runs, the interpreter hands the GIL over every 0.5 ms instead of every 5 ms:
the consumer wakes from each of its many short socket waits to find the producer holding the
GIL, and at the default interval those waits for the GIL cost the bulk import a fifth of its time
(bench/ingest_sync.py, 2026-12-04).
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_HANDOVER_SECONDS = 0.0005
_handover_lock = threading.Lock()
_handover_users = 0
_handover_before = 0.0


@contextmanager
def _quick_handover() -> Iterator[None]:
    """The short GIL switch interval while any producer runs (the process-wide setting is
    restored when the last one ends)."""
    global _handover_users, _handover_before
    with _handover_lock:
        if _handover_users == 0:
            _handover_before = sys.getswitchinterval()
            sys.setswitchinterval(min(_handover_before, _HANDOVER_SECONDS))
        _handover_users += 1
    try:
        yield
    finally:
        with _handover_lock:
            _handover_users -= 1
            if _handover_users == 0:
                sys.setswitchinterval(_handover_before)


def close(items: Iterator) -> None:
    """Stop a generator (and the thread behind a `prefetched` one); other iterators are left as is."""
    stop = getattr(items, "close", None)
    if stop is not None:
        stop()


def prefetched(items: Iterator, ahead: int, name: str = "bulk-reader") -> Iterator:
    """`items`, produced by a thread up to `ahead` items ahead; its errors are raised here.

    Closing the generator stops the thread and waits for it, so what it reads (a spool, an
    HTTP stream) can be closed or deleted right after.
    """
    out: queue.Queue = queue.Queue(maxsize=ahead)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        out.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put((done, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            out.put((done, exc))
        finally:
            close(items)  # in this thread, which ran it: its file or stream is let go here

    thread = threading.Thread(target=produce, name=name, daemon=True)
    with _quick_handover():
        thread.start()
        try:
            while True:
                item, error = out.get()
                if item is done:
                    if error is not None:
                        raise error
                    return
                yield item
        finally:
            stop.set()
            while thread.is_alive():
                try:
                    out.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()

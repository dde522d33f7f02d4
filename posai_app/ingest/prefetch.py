"""Produce an iterator's items in a thread of their own, a bounded number ahead of the consumer.

The bulk importers parse a file (Python, holding the GIL) while the job's thread waits on
PostgreSQL writing the previous batch (a socket wait, without the GIL): on two cores the two
overlap. The queue bounds memory to `ahead` items, whatever the file's size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator


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

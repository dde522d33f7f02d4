"""Read an orders CSV in a forked child while this process imports numpy and scipy.

For a small shop, `posai evaluate` spends about as long starting up (numpy + scipy.sparse
imports, ~150 ms) as parsing its CSV (~130 ms), and both hold the GIL, so threads cannot
overlap them. A child process forked before the imports parses the file with the same
function as the in-process path (`load_history_parts`) and sends back compact
arrays: the id list as JSON, then basket lengths, item positions and time keys as raw
machine integers, then whether the file has times (JSON). Errors in the file come back as
their message; anything else (no fork, a tiny file, other threads running, the child failing)
falls back to reading in-process.

Only the standard library is imported here: this module runs before numpy is loaded.
"""

from __future__ import annotations

import json
import os
import struct
import threading
from array import array
from collections.abc import Callable
from typing import Any

from posai_app.reco.orders import OrdersFileError, load_history_parts

MIN_BYTES = 256 * 1024  # below this, a fork costs more than it hides
_HEADER = struct.Struct("<cQ")  # kind (b"E" error message, b"J" JSON, b"A" int64 array), byte length


class ForkedCsvReader:
    """Start with the path (the child begins parsing at once); `result()` returns the parts."""

    def __init__(self, path: str, min_bytes: int = MIN_BYTES) -> None:
        self.path = path
        self.pid: int | None = None
        self._read_fd: int | None = None
        if _fork_worthwhile(path, min_bytes):
            self._start()

    def _start(self) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: parse, write, and leave without running the parent's exit handlers
            os.close(read_fd)
            code = 0
            try:
                _write_parts(write_fd, self.path)
            except BaseException:  # noqa: BLE001  (the parent falls back to reading in-process)
                code = 1
            finally:
                os._exit(code)
        os.close(write_fd)
        self.pid, self._read_fd = pid, read_fd

    def result(self, build: Callable[[list[str], Any, Any, Any, bool], Any]) -> Any:
        """build(ids, lengths, indices, times, has_times) with the child's parts (or an in-process read)."""
        parts = self._collect() if self.pid is not None else None
        return build(*(parts if parts is not None else load_history_parts(self.path)))

    def _collect(self) -> tuple | None:
        with os.fdopen(self._read_fd, "rb") as stream:
            data = stream.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if not data or os.waitstatus_to_exitcode(status) != 0:
            return None
        fields, offset = [], 0
        while offset < len(data):
            kind, size = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            payload = data[offset : offset + size]
            offset += size
            if kind == b"E":
                raise OrdersFileError(payload.decode())
            fields.append(json.loads(payload) if kind == b"J" else _int64s(payload))
        return tuple(fields) if len(fields) == 5 else None


def _fork_worthwhile(path: str, min_bytes: int) -> bool:
    if not hasattr(os, "fork") or threading.active_count() > 1:  # forking with threads can deadlock
        return False
    try:
        return os.path.getsize(path) >= min_bytes
    except OSError:
        return False  # the in-process read gives the clear error


def _int64s(payload: bytes):
    import numpy as np

    return np.frombuffer(payload, dtype=np.int64).copy()  # writable, owned by the caller


def _write_parts(fd: int, path: str) -> None:
    with os.fdopen(fd, "wb") as out:
        try:
            ids, *arrays, has_times = load_history_parts(path)
        except OrdersFileError as exc:
            _send(out, b"E", exc.message.encode())
            return
        _send(out, b"J", json.dumps(ids).encode())
        for values in arrays:  # basket lengths, item positions, time keys
            _send(out, b"A", array("q", values).tobytes())
        _send(out, b"J", json.dumps(has_times).encode())


def _send(out, kind: bytes, payload: bytes) -> None:
    out.write(_HEADER.pack(kind, len(payload)))
    out.write(payload)

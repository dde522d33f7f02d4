"""A lean HTTP/1.1 load client for the benches: keep-alive connections driven by one selector.

The server and the client share this machine's two cores, so the client's own CPU caps what a
bench can show. httpx in a thread pool spent about as much CPU per request as gunicorn did on
`GET /healthz`; this client sends requests it encoded before the clock started and reads only
the status line and Content-Length of each answer, so nearly all of the machine is left to the
server. Like wrk, it keeps `concurrency` requests in flight, each on its own connection.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


def encode(
    method: str, host: str, path: str, body: bytes | None = None, headers: Mapping | None = None
) -> bytes:
    """One request as the bytes sent on the wire."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        if name.lower() not in ("host", "content-length", "connection"):
            lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


@dataclass
class Result:
    elapsed: float
    latencies: list[float]  # seconds, sorted
    statuses: dict[int, int]
    bodies: dict[int, bytes] = field(default_factory=dict)  # the first body seen per status


@dataclass
class _Connection:
    sock: socket.socket
    out: memoryview = memoryview(b"")
    buffer: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    expected: int | None = None  # bytes of the whole answer, once its head is read
    body_at: int = 0
    status: int = 0
    close: bool = False


def run(host: str, port: int, requests: Iterable[bytes], concurrency: int, timeout: float = 30.0) -> Result:
    """Send every request, `concurrency` at a time, each answer read before that connection's
    next request; raises if an answer is not a plain Content-Length one or takes over `timeout`."""
    pending = list(requests)
    pending.reverse()  # pop() from the end: first request first
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: dict[int, bytes] = {}
    in_flight = 0

    def connect() -> _Connection:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return _Connection(sock)

    def start(conn: _Connection, events=selectors.EVENT_WRITE) -> None:
        nonlocal in_flight
        conn.out = memoryview(pending.pop())
        conn.buffer.clear()
        conn.expected = None
        conn.started = time.perf_counter()
        in_flight += 1
        if conn.sock in selector.get_map():
            selector.modify(conn.sock, events, conn)
        else:
            selector.register(conn.sock, events, conn)

    began = time.perf_counter()
    for _ in range(min(concurrency, len(pending))):
        start(connect())
    while in_flight:
        ready = selector.select(timeout)
        if not ready:
            raise TimeoutError(f"no answer within {timeout} s ({in_flight} requests in flight)")
        for key, events in ready:
            conn: _Connection = key.data
            if events & selectors.EVENT_WRITE and conn.out:
                sent = conn.sock.send(conn.out)
                conn.out = conn.out[sent:]
                if not conn.out:
                    selector.modify(conn.sock, selectors.EVENT_READ, conn)
                continue
            chunk = conn.sock.recv(262_144)
            if not chunk:
                raise ConnectionError("the server closed a connection before answering")
            conn.buffer += chunk
            if conn.expected is None:
                end = conn.buffer.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(conn.buffer[:end]).decode("latin-1").lower().split("\r\n")
                status = int(head[0].split(" ", 2)[1])
                length = None
                close = False
                for line in head[1:]:
                    name, _, value = line.partition(":")
                    if name == "content-length":
                        length = int(value)
                    elif name == "transfer-encoding":
                        raise ValueError("chunked answers are not read by this client")
                    elif name == "connection" and "close" in value:
                        close = True
                if length is None:
                    raise ValueError("an answer without Content-Length")
                conn.body_at, conn.expected = end + 4, end + 4 + length
                conn.status, conn.close = status, close
            if len(conn.buffer) < conn.expected:
                continue
            latencies.append(time.perf_counter() - conn.started)
            statuses[conn.status] = statuses.get(conn.status, 0) + 1
            if conn.status not in bodies:
                bodies[conn.status] = bytes(conn.buffer[conn.body_at : conn.expected])
            in_flight -= 1
            if conn.close:
                selector.unregister(conn.sock)
                conn.sock.close()
                if pending:
                    start(connect())
            elif pending:
                start(conn)
            else:
                selector.unregister(conn.sock)
                conn.sock.close()
    elapsed = time.perf_counter() - began
    selector.close()
    latencies.sort()
    return Result(elapsed, latencies, statuses, bodies)

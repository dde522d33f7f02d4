"""What the benches that start a local gunicorn share: a free loopback port, and waiting for it."""

from __future__ import annotations

import http.client
import socket
import statistics
import time


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_healthz(port: int, seconds: float = 60) -> None:
    """Until GET /healthz answers 200 on the port; exits the bench if it never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn on port {port} did not answer /healthz")


def latency_figures(latencies: list[float], elapsed: float, statuses: dict) -> dict:
    """A load run's figures from its per-request seconds: count, rate, p50 and p99 (ms), statuses."""
    ordered = sorted(latencies)
    nan = float("nan")
    return {
        "requests": len(ordered),
        "rps": len(ordered) / elapsed,
        "elapsed": elapsed,
        "p50_ms": statistics.median(ordered) * 1000 if ordered else nan,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else nan,
        "statuses": dict(statuses),
    }

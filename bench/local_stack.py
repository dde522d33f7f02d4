"""What the benches that start a local gunicorn share: a free loopback port, and waiting for it."""

from __future__ import annotations

import http.client
import socket
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

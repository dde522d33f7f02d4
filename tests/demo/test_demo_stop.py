"""SIGTERM to `posai demo` stops what it started (gunicorn, the worker), as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

# The serving loop of `posai demo`, with its children replaced by long sleeps (their pids are
# printed), so the test needs neither a port nor a database.
CHILD = textwrap.dedent(
    """
    import subprocess, sys
    from posai_app.demo import cli

    real_popen = subprocess.Popen

    def fake_popen(argv, **kw):
        child = real_popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print("child", child.pid, flush=True)
        return child

    cli.subprocess.Popen = fake_popen
    config = {
        "DATABASE_URL": "sqlite://", "SECRET_KEY": "k", "SHOPIFY_API_KEY": "k",
        "SHOPIFY_API_SECRET": "s", "POSAI_ENCRYPTION_KEYS": "k", "REDIS_URL": "redis://unused",
    }
    cli._serve(config, 0)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(") ", 1)[1][0] != "Z"


def test_sigterm_stops_gunicorn_and_the_worker():
    demo = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        while len(pids) < 2:
            line = demo.stdout.readline()
            assert line, "the demo loop exited before starting its children"
            if line.startswith("child "):
                pids.append(int(line.split()[1]))
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)], "children left running after SIGTERM"
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        demo.stdout.close()

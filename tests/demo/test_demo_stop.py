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


# The same loop, with SIGTERM arriving while the first child is being started (it comes back
# from Popen after the signal): that child must be recorded and stopped too.
SIGNAL_MID_START = CHILD.replace(
    '    print("child", child.pid, flush=True)\n',
    '    print("child", child.pid, flush=True)\n'
    "    import os, signal\n"
    "    os.kill(os.getpid(), signal.SIGTERM)\n",
)


def _stops_its_children(child_source: str, expected: int, send_sigterm: bool) -> None:
    demo = subprocess.Popen([sys.executable, "-c", child_source], stdout=subprocess.PIPE, text=True)
    pids = []
    try:
        while len(pids) < expected:
            line = demo.stdout.readline()
            assert line, "the demo loop exited before starting its children"
            if line.startswith("child "):
                pids.append(int(line.split()[1]))
        if send_sigterm:
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


def test_sigterm_stops_gunicorn_and_the_worker():
    _stops_its_children(CHILD, 2, send_sigterm=True)


def test_a_sigterm_while_a_child_is_starting_still_stops_it():
    # The signal lands inside the first Popen: the loop starts nothing more and stops that child.
    _stops_its_children(SIGNAL_MID_START, 1, send_sigterm=False)

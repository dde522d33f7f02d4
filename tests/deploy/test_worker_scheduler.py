"""A worker restarted while its dead predecessor's scheduler lock is still in Redis takes the
scheduler over at its next maintenance pass (a minute), not after RQ's default ten minutes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from redis import Redis

from tests.deploy.packaging import ROOT

LOCK = "rq:scheduler-lock:high"


@pytest.mark.redis
def test_a_stale_scheduler_lock_is_taken_over_at_the_next_maintenance_pass(requires_redis, tmp_path):
    redis = Redis.from_url(requires_redis)
    # What a SIGKILLed scheduler leaves: a lock that outlives the new worker's start-up.
    redis.set(LOCK, "worker-killed-by-the-oom-killer", ex=8)
    env = {
        **os.environ,
        "REDIS_URL": requires_redis,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'posai.db'}",
        "POSAI_WORKER_MAINTENANCE_SECONDS": "4",
    }
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "worker.py"), "high"], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 40
        owner = None
        while time.monotonic() < deadline and worker.poll() is None:
            owner = redis.get(LOCK)
            if owner is not None and owner != b"worker-killed-by-the-oom-killer":
                break
            time.sleep(0.5)
        assert worker.poll() is None, log.read_text()[-3000:]
        assert owner not in (None, b"worker-killed-by-the-oom-killer"), log.read_text()[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        redis.delete(LOCK)
        redis.close()

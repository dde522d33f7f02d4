"""gunicorn settings for the web process (Dockerfile CMD and fly.toml `web`).

Everything that differs between machines comes from the environment; see docs/operations.md.
"""

from __future__ import annotations

import os
import shutil
import tempfile


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Fly's proxy and `docker run -p` reach the container on its external interface; tests set HOST=127.0.0.1.
bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_int_env('PORT', 8000)}"  # noqa: S104
workers = _int_env("WEB_CONCURRENCY", 2)
# threads > 1 makes gunicorn switch the sync worker to gthread; 1 keeps plain sync workers.
threads = _int_env("GUNICORN_THREADS", 1)
# A worker silent for this long is killed and replaced; no request of ours should come close.
timeout = _int_env("GUNICORN_TIMEOUT", 30)
# On SIGTERM, in-flight requests get this long to finish; fly.toml's kill_timeout is longer.
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 25)
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then to bound slow leaks (0 = never); jitter avoids all restarting at once.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max(1, max_requests // 10) if max_requests else 0

# The app is built in each worker, after the fork: no database or Redis connection is shared.
preload_app = False

# Heartbeat files on tmpfs: an overlay filesystem can stall them and get healthy workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# No runtime control socket (gunicorn 25.1+): it would go in $HOME, which the image's user cannot
# write, and gunicorns sharing a HOME on one host would replace each other's socket.
control_socket_disable = True

# Logs go to stdout/stderr, where Fly and Docker collect them.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Path without the query string (OAuth codes and HMACs travel there), status, bytes, seconds,
# the client address Fly's proxy saw, and Fly's request id to find the request in the proxy's logs.
access_log_format = (
    '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(L)ss client=%({fly-client-ip}i)s fly_request_id=%({fly-request-id}i)s'
)


# /metrics sums the request and cache figures of all this gunicorn's workers (prometheus_client's
# multiprocess mode): each worker writes its own files under one fresh directory, set before the
# workers import the app; a dead worker's live gauges are dropped. See posai_app/metrics.py.
def on_starting(server):
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="posai-metrics-", dir=base)
        server.posai_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    created = getattr(server, "posai_metrics_dir", None)
    if created:
        shutil.rmtree(created, ignore_errors=True)

"""Do what the image does, without Docker: lay out the files the Dockerfile COPYs, install them with
the Dockerfile's own RUN lines into a plain virtualenv (wheels from PyPI; nothing borrowed from the
test environment), run fly.toml's release_command, then start the exact CMD and ask /healthz.

Slow (about a minute with a warm pip cache): marked `slow`.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from cryptography.fernet import Fernet

from tests.conftest import redis_url
from tests.deploy.packaging import materialize_build_context, parse_dockerfile, read_dockerignore, read_toml
from tests.helpers import TEST_API_KEY, TEST_API_SECRET

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 240
START_TIMEOUT = 60
METRICS_TOKEN = "deploy-test-metrics-token"  # noqa: S105


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    try:
        request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _stop(process: subprocess.Popen, timeout: float = 40) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # what Fly sends (kill_signal)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # the whole group: RQ's scheduler is a child process and, orphaned, would keep
            # Redis's scheduler locks from the next test's worker
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(app dir, environment) of a virtualenv installed from the build stage's COPY and RUN lines."""
    tmp = tmp_path_factory.mktemp("image")
    dockerfile = parse_dockerfile()
    build = dockerfile.stage("build")
    image_root = tmp / "root"
    materialize_build_context(build, read_dockerignore(), image_root)
    workdir = build.last("WORKDIR").args.strip()
    app_dir = image_root / workdir.lstrip("/")

    venv = tmp / "venv"
    # A plain venv: a package missing from pyproject.toml must make this test fail.
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp)),
        "LANG": "C.UTF-8",
    }
    # The build stage's ENV, except PIP_NO_CACHE_DIR: here the pip cache keeps the test fast.
    env.update({k: v for k, v in build.env().items() if k not in ("PATH", "PIP_NO_CACHE_DIR")})
    for run in build.all("RUN"):
        command = run.args
        if "-m venv" in command:
            continue  # the venv above stands in for /opt/venv
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=app_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert result.returncode == 0, f"RUN {command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    # The runtime stage's ENV and fly.toml's [env], then secrets as `fly secrets set` would.
    env.update({k: v for k, v in dockerfile.final.env().items() if k != "PATH"})
    env.update(read_toml("fly.toml")["env"])
    env.update(
        {
            "SECRET_KEY": "deploy-test-secret-key-0123456789abcdef0123456789",
            "SHOPIFY_API_KEY": TEST_API_KEY,
            "SHOPIFY_API_SECRET": TEST_API_SECRET,
            "APP_URL": "https://posai.test",
            "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": f"sqlite:///{tmp / 'posai.db'}",
            # Production requires REDIS_URL; without a test Redis, point at a closed port.
            "REDIS_URL": redis_url() or "redis://127.0.0.1:1/0",
            "POSAI_METRICS_TOKEN": METRICS_TOKEN,
        }
    )
    return app_dir, env


def test_release_command_migrates_a_fresh_database(image):
    app_dir, env = image
    argv = shlex.split(read_toml("fly.toml")["deploy"]["release_command"])
    result = subprocess.run(argv, cwd=app_dir, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Running upgrade" in result.stderr + result.stdout


def test_image_cmd_serves_healthz_and_shuts_down_gracefully(image):
    app_dir, env = image
    subprocess.run(
        shlex.split(read_toml("fly.toml")["deploy"]["release_command"]),
        cwd=app_dir,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    argv = parse_dockerfile().final.last("CMD").exec_form()
    port = _free_port()
    log = app_dir.parent / "gunicorn.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv,
            cwd=app_dir,
            env={**env, "HOST": "127.0.0.1", "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/healthz")
                break
            except (ConnectionError, urllib.error.URLError, TimeoutError):
                time.sleep(0.3)
        assert status == 200, f"gunicorn did not answer /healthz:\n{log.read_text()[-4000:]}"
        assert b'"ok"' in body
        ready, ready_body = _get(f"http://127.0.0.1:{port}/readyz")
        assert ready == (200 if redis_url() else 503), ready_body
        # /metrics sums every gunicorn worker's figures, whichever worker answers the scrape
        for _ in range(8):
            _get(f"http://127.0.0.1:{port}/healthz")
        series = 'posai_http_request_duration_seconds_count{method="GET",route="/healthz",status="200"}'
        for _ in range(4):
            status, scraped = _get(
                f"http://127.0.0.1:{port}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert status == 200, scraped[-2000:]
            assert f"{series} 9.0" in scraped.decode(), scraped.decode()[-4000:]
    finally:
        code = _stop(process)
    output = log.read_text()
    assert code == 0, f"gunicorn exited {code} on SIGTERM:\n{output[-4000:]}"
    assert '"GET /healthz" 200' in output, "the access log goes to stdout"
    assert "Booting worker" in output and "Shutting down" in output
    assert "Control socket" not in output


def _start_worker(image, log_name: str):
    """fly.toml's worker process, started in the installed app dir: (process, its log file)."""
    app_dir, env = image
    argv = shlex.split(read_toml("fly.toml")["processes"]["worker"])
    log = app_dir.parent / log_name
    with open(log, "w") as out:
        process = subprocess.Popen(
            argv, cwd=app_dir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def test_worker_process_starts_and_stops_warm(image, requires_redis):
    process, log = _start_worker(image, "worker.log")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            # RQ logs "started with PID" before the queue list ("Listening on high, ..."): wait for both.
            if "Listening on" in log.read_text() and "high" in log.read_text():
                break
            time.sleep(0.3)
        assert process.poll() is None, f"worker exited early:\n{log.read_text()[-4000:]}"
        assert "high" in log.read_text(), log.read_text()[-4000:]
    finally:
        code = _stop(process)
    assert code == 0, f"worker exited {code} on SIGTERM:\n{log.read_text()[-4000:]}"


def test_worker_stopped_during_start_up_stops_warm(image, requires_redis):
    """SIGTERM before RQ installs its handlers (a deploy that replaces a booting machine): the
    worker must still stop warmly (exit 0, its registration cleaned up), never die on the signal."""
    process, log = _start_worker(image, "worker-early.log")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        # worker.py logs this before RQ's worker even exists
        while (
            time.monotonic() < deadline
            and process.poll() is None
            and "worker starting" not in log.read_text()
        ):
            time.sleep(0.05)
        assert process.poll() is None, f"worker exited early:\n{log.read_text()[-4000:]}"
    finally:
        code = _stop(process)
    assert code == 0, f"worker exited {code} on SIGTERM during start-up:\n{log.read_text()[-4000:]}"
    # Whether the signal came before RQ's own handlers ("stopping on request", the early path that
    # tests/deploy/test_packaging.py pins down) or after them ("warm shut down requested").
    output = log.read_text()
    assert "stopping on request" in output or "warm shut down requested" in output, output[-4000:]

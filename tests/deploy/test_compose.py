"""compose.yaml (issue #19) without Docker: every service's command is one the image can run
(the same as fly.toml's, whose commands tests/deploy/test_image_install.py runs for real), every
environment name is one the app reads, and the start order is the release order."""

from __future__ import annotations

import re
import shlex

import yaml
from cryptography.fernet import Fernet

from posai_app import create_app
from posai_app.config import REQUIRED_IN_PRODUCTION
from tests.deploy.packaging import ROOT, read_toml

APP_SERVICES = ("migrate", "web", "worker")


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _resolved(value: str) -> str:
    """A compose value with ${NAME:-default} replaced by its default (what a bare machine gets)."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))


def _env(service: dict) -> dict[str, str]:
    return {name: _resolved(value) for name, value in service["environment"].items()}


def test_commands_are_fly_tomls_own():
    services = _compose()["services"]
    fly = read_toml("fly.toml")
    assert shlex.split(services["web"]["command"]) == shlex.split(fly["processes"]["web"])
    assert shlex.split(services["worker"]["command"]) == shlex.split(fly["processes"]["worker"])
    assert shlex.split(services["migrate"]["command"]) == shlex.split(fly["deploy"]["release_command"])
    for service in APP_SERVICES:
        assert services[service]["build"] == ".", "the app services run the repository's Dockerfile"
        assert (ROOT / "Dockerfile").exists()


def test_web_and_worker_start_after_the_migration_and_the_databases():
    services = _compose()["services"]
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["postgres"]["condition"] == "service_healthy"
        assert needs["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]


def test_every_environment_name_is_one_the_app_reads():
    read_by_us = "\n".join(
        (ROOT / path).read_text() for path in ("posai_app/config.py", "gunicorn.conf.py", "worker.py")
    )
    services = _compose()["services"]
    for name in APP_SERVICES:
        for variable in _env(services[name]):
            assert re.search(rf"[\"']{variable}[\"']", read_by_us), f"{name}: {variable} is read by nothing"


def test_the_app_starts_in_production_with_exactly_the_composed_settings(monkeypatch):
    """The settings the web and worker get on a bare machine satisfy production's start-up check."""
    services = _compose()["services"]
    postgres = services["postgres"]["environment"]
    for name in ("web", "worker"):
        env = _env(services[name])
        assert set(REQUIRED_IN_PRODUCTION) <= set(env)
        assert env["POSAI_ENV"] == "production"
        assert env["DATABASE_URL"] == (
            f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
            f"@postgres:5432/{postgres['POSTGRES_DB']}"
        )
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        Fernet(env["POSAI_ENCRYPTION_KEYS"].encode())  # a valid key, not a placeholder
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        app = create_app()  # raises ConfigError on anything production refuses
        assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
        assert app.config["POSAI_METRICS_TOKEN"]
    assert _env(services["web"])["SECRET_KEY"] == _env(services["worker"])["SECRET_KEY"]
    assert _env(services["web"])["POSAI_ENCRYPTION_KEYS"] == _env(services["worker"])["POSAI_ENCRYPTION_KEYS"]


def test_the_published_port_is_the_one_gunicorn_binds():
    web = _compose()["services"]["web"]
    port = _env(web)["PORT"]
    assert any(mapping.endswith(f":{port}") for mapping in web["ports"])

import pytest

from posai_app import create_app
from posai_app.config import ConfigError, normalize_database_url


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_reports_database_and_redis(client, app):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"]["database"] == "ok"
    expected = "ok" if app.config.get("REDIS_URL") else "not configured (jobs run inline)"
    assert response.json["checks"]["redis"] == expected


def test_readyz_is_503_when_redis_is_down(make_app):
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("error")


def test_unknown_route_is_json_404_for_json_clients(client):
    response = client.get("/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_is_normalised_to_psycopg3(given, expected):
    assert normalize_database_url(given) == expected


def test_production_refuses_to_start_listing_every_missing_secret(monkeypatch):
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "SHOPIFY_API_KEY",
        "SHOPIFY_API_SECRET",
        "APP_URL",
        "POSAI_ENCRYPTION_KEYS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POSAI_ENV", "production")
    monkeypatch.setenv("SHOPIFY_API_KEY", "k")
    with pytest.raises(ConfigError) as excinfo:
        create_app()
    message = str(excinfo.value)
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "SHOPIFY_API_SECRET",
        "APP_URL",
        "POSAI_ENCRYPTION_KEYS",
    ):
        assert name in message
    assert "SHOPIFY_API_KEY" not in message


# Every setting production requires, so a test can show what else it refuses.
PRODUCTION_SETTINGS = {
    "SECRET_KEY": "x" * 32,
    "DATABASE_URL": "sqlite://",
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "SHOPIFY_API_KEY": "k",
    "SHOPIFY_API_SECRET": "s" * 32,
    "APP_URL": "https://a.example",
    "POSAI_ENCRYPTION_KEYS": "k",
}


def test_production_refuses_demo_mode(monkeypatch):
    monkeypatch.setenv("POSAI_ENV", "production")
    with pytest.raises(ConfigError, match="POSAI_DEMO"):
        create_app({**PRODUCTION_SETTINGS, "POSAI_DEMO": True})


def test_development_fills_throwaway_values_and_says_so(monkeypatch, tmp_path, caplog):
    for name in ("SECRET_KEY", "SHOPIFY_API_SECRET", "POSAI_ENCRYPTION_KEYS", "POSAI_ENV", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/dev.db"})
    assert app.config["SECRET_KEY"]
    assert "SECRET_KEY" in app.config["POSAI_GENERATED_SETTINGS"]
    assert "development mode" in caplog.text


def test_production_refuses_the_test_only_shopify_address(monkeypatch):
    monkeypatch.setenv("POSAI_ENV", "production")
    with pytest.raises(ConfigError, match="SHOPIFY_ADMIN_BASE_URL"):
        create_app({**PRODUCTION_SETTINGS, "SHOPIFY_ADMIN_BASE_URL": "http://127.0.0.1:9/{shop}"})


def test_the_test_only_shopify_address_is_never_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPIFY_ADMIN_BASE_URL", "http://127.0.0.1:9/{shop}")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/dev.db"})
    assert app.config["SHOPIFY_ADMIN_BASE_URL"] is None


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("SERVING_CACHE_MAX_MB", "lots", "SERVING_CACHE_MAX_MB must be a number, not 'lots'"),
        ("DATABASE_STATEMENT_TIMEOUT", "10s", "DATABASE_STATEMENT_TIMEOUT must be a number, not '10s'"),
        ("POSAI_DB_HASH_PARTITIONS", "²", "POSAI_DB_HASH_PARTITIONS must be a whole number from 0 to 1024"),
    ],
)
def test_a_bad_setting_stops_the_cli_with_a_message_naming_it(monkeypatch, capsys, name, value, says):
    from posai_app.cli import main

    monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["db", "current"])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err

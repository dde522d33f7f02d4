"""@shop_required over the real app: session tokens in, the verified shop out, managed install by token
exchange against the fake over HTTP, and every refusal as a 401 JSON error App Bridge retries."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from posai_app.auth.decorators import current_shop, current_shop_id, shop_required
from posai_app.errors import RETRY_HEADER
from posai_app.ingest.sync import SYNC_JOB_TIMEOUT
from posai_app.queue import RETRY
from tests.auth.conftest import random_domain
from tests.helpers import make_session_token


@pytest.fixture
def guarded(make_app, fake_shopify, enqueued):
    """An app with two @shop_required views (an embedded page and an API route) and its client."""
    application = make_app(SHOPIFY_ADMIN_BASE_URL=fake_shopify.base_url)

    @shop_required
    def whoami():
        return {"shop_id": current_shop_id(), "domain": current_shop().domain}

    application.add_url_rule("/app-probe", "app_probe", whoami, methods=["GET", "POST"])
    application.add_url_rule("/api/probe", "api_probe", whoami, methods=["GET", "POST"])
    return application


def _bearer(config, domain: str, **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_session_token(config, domain, **claims)}"}


def _shop_row(app, domain: str):
    from posai_app.extensions import db
    from posai_app.models import Shop

    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.domain == domain))
        if shop is not None:
            db.session.expunge(shop)
        return shop


def _assert_401(response, reason: str | None = None) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.headers[RETRY_HEADER] == "1"
    assert set(response.json["error"]) >= {"code", "message"}
    if reason is not None:
        assert response.json["error"]["details"]["reason"] == reason


def test_installed_shop_is_authenticated_from_the_token_dest(guarded, shop, fake_shopify):
    response = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, shop.domain))
    assert response.status_code == 200
    assert response.json == {"shop_id": shop.id, "domain": shop.domain}
    assert fake_shopify.requests == []  # a usable token: no exchange


def test_shop_comes_from_dest_never_from_the_query_or_body(guarded, shop, other_shop):
    response = guarded.test_client().post(
        f"/api/probe?shop={shop.domain}",
        json={"shop": shop.domain, "shop_id": shop.id},
        headers=_bearer(guarded.config, other_shop.domain),
    )
    assert response.status_code == 200
    assert response.json["shop_id"] == other_shop.id


def test_embedded_page_accepts_the_id_token_query_on_get(guarded, shop):
    token = make_session_token(guarded.config, shop.domain)
    response = guarded.test_client().get(f"/app-probe?embedded=1&shop={shop.domain}&id_token={token}")
    assert response.status_code == 200
    assert response.json["shop_id"] == shop.id


def test_id_token_query_is_not_accepted_on_post_or_api_routes(guarded, shop):
    token = make_session_token(guarded.config, shop.domain)
    client = guarded.test_client()
    json_please = {"Accept": "application/json"}  # embedded pages answer HTML unless asked for JSON
    _assert_401(client.post(f"/app-probe?id_token={token}", headers=json_please), "missing_token")
    _assert_401(client.get(f"/api/probe?id_token={token}"), "missing_token")


def test_missing_or_non_bearer_authorization_is_401(guarded, shop):
    client = guarded.test_client()
    _assert_401(client.get("/api/probe"), "missing_token")
    _assert_401(client.get("/api/probe", headers={"Authorization": "Basic abc"}), "malformed")
    _assert_401(client.get("/api/probe", headers={"Authorization": "Bearer "}), "malformed")


def _now() -> int:
    return int(time.time())


@pytest.mark.parametrize(
    ("claims", "secret", "reason"),
    [
        # Callables: times are taken when the test runs, not when it is collected.
        (lambda: {"exp": _now() - 30, "iat": _now() - 90}, None, "expired"),
        (lambda: {"nbf": _now() + 60, "exp": _now() + 120}, None, "invalid"),
        (lambda: {"aud": "someone-elses-app"}, None, "wrong_audience"),
        (dict, "an-attackers-secret-0123456789abcdef0123456789", "invalid"),
        (lambda: {"dest": None}, None, "missing_dest"),
        (lambda: {"dest": "https://evil.com", "iss": None}, None, "invalid_dest"),
        (lambda: {"dest": "https://shop.myshopify.com.evil.com", "iss": None}, None, "invalid_dest"),
        (lambda: {"iss": "https://beta-shop.myshopify.com/admin"}, None, "issuer_mismatch"),
    ],
    ids=[
        "expired",
        "not-yet-valid",
        "wrong-aud",
        "wrong-signature",
        "no-dest",
        "evil-dest",
        "suffix-dest",
        "foreign-iss",
    ],
)
def test_bad_session_tokens_are_401_json(guarded, shop, fake_shopify, claims, secret, reason):
    token = make_session_token(guarded.config, shop.domain, secret=secret, **claims())
    response = guarded.test_client().get("/api/probe", headers={"Authorization": f"Bearer {token}"})
    _assert_401(response, reason)
    assert response.json["error"]["code"] == "unauthorized"
    assert fake_shopify.requests == []


def test_alg_none_token_is_401(guarded, shop):
    import base64
    import json

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"dest": f"https://{shop.domain}", "aud": guarded.config["SHOPIFY_API_KEY"], "exp": 2**31}
    token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    _assert_401(guarded.test_client().get("/api/probe", headers={"Authorization": f"Bearer {token}"}))


def test_new_shop_is_installed_by_token_exchange(guarded, fake_shopify, enqueued):
    domain = random_domain()
    token = make_session_token(guarded.config, domain)
    response = guarded.test_client().get(f"/app-probe?shop={domain}&id_token={token}")
    assert response.status_code == 200, response.get_data(as_text=True)

    [exchange] = fake_shopify.grant_requests("token_exchange")
    assert exchange["shop"] == domain
    assert exchange["params"] == {
        "client_id": guarded.config["SHOPIFY_API_KEY"],
        "client_secret": guarded.config["SHOPIFY_API_SECRET"],
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token",
        "expiring": 1,
    }
    grant = fake_shopify.grants[domain]
    shop = _shop_row(guarded, domain)
    assert response.json["shop_id"] == shop.id
    assert shop.access_token == grant.access_token and shop.refresh_token == grant.refresh_token
    assert shop.scopes == fake_shopify.scope
    assert shop.is_installed and not shop.needs_reauth
    access_left = shop.access_token_expires_at.timestamp() - time.time()
    refresh_left = shop.refresh_token_expires_at.timestamp() - time.time()
    assert 3500 < access_left <= 3600
    assert 89 * 86400 < refresh_left <= 90 * 86400
    assert enqueued == [
        (
            ("ingest", "posai_app.ingest.sync.sync_shop", shop.id),
            {
                "job_id": f"sync-{shop.id}",
                "coalesce": True,
                "job_timeout": SYNC_JOB_TIMEOUT,
                "retry": RETRY,
                "replace_started": True,
            },
        )
    ]
    # The second request uses the stored token: no second exchange, no second sync.
    again = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, domain))
    assert again.status_code == 200
    assert len(fake_shopify.grant_requests("token_exchange")) == 1 and len(enqueued) == 1


def test_shop_where_shopify_refuses_the_exchange_is_401_and_not_stored(guarded, fake_shopify, enqueued):
    domain = random_domain()
    fake_shopify.uninstalled.add(domain)  # Shopify answers invalid_subject_token
    response = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, domain))
    _assert_401(response, "token_exchange_rejected")
    assert _shop_row(guarded, domain) is None and enqueued == []


def _stale_token(config, domain: str) -> str:
    """Expired 5 s ago: inside our 10 s leeway, so it verifies here, but Shopify refuses to exchange it."""
    now = int(time.time())
    return make_session_token(config, domain, exp=now - 5, nbf=now - 65, iat=now - 65)


def test_document_load_whose_token_shopify_refuses_bounces_for_a_fresh_one(
    app, client, fake_shopify, enqueued
):
    from urllib.parse import parse_qs, urlsplit

    domain = random_domain()
    response = client.get(
        f"/app?embedded=1&shop={domain}&host=YWJj&id_token={_stale_token(app.config, domain)}"
    )
    assert [r["grant"] for r in fake_shopify.requests] == ["token_exchange"]  # answered invalid_subject_token
    assert response.status_code == 302, response.get_data(as_text=True)
    target = urlsplit(response.headers["Location"])
    assert target.path == "/app/session-token-bounce"
    assert parse_qs(target.query)["shopify-reload"] == [
        f"https://posai.test/app?embedded=1&shop={domain}&host=YWJj"
    ]
    # App Bridge reloads with a fresh token: now Shopify exchanges it and the page renders.
    fresh = make_session_token(app.config, domain)
    page = client.get(f"/app?embedded=1&shop={domain}&host=YWJj&id_token={fresh}")
    assert page.status_code == 200 and _shop_row(app, domain).is_installed


def test_fetch_whose_token_shopify_refuses_is_a_401_app_bridge_retries(guarded, fake_shopify, enqueued):
    domain = random_domain()
    stale = {"Authorization": f"Bearer {_stale_token(guarded.config, domain)}"}
    response = guarded.test_client().get("/api/probe", headers=stale)
    _assert_401(response, "token_exchange_rejected")
    assert _shop_row(guarded, domain) is None
    retried = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, domain))
    assert retried.status_code == 200


def test_shop_that_uninstalled_is_401(guarded, fake_shopify, enqueued):
    from posai_app.shops.lifecycle import uninstall_shop

    domain = random_domain()
    client = guarded.test_client()
    assert client.get("/api/probe", headers=_bearer(guarded.config, domain)).status_code == 200
    shop_id = _shop_row(guarded, domain).id
    fake_shopify.uninstall(domain)
    with guarded.app_context():
        uninstall_shop(shop_id)
    response = client.get("/api/probe", headers=_bearer(guarded.config, domain))
    _assert_401(response, "token_exchange_rejected")
    assert _shop_row(guarded, domain) is None


def test_shop_marked_uninstalled_is_401_even_when_shopify_is_unreachable(guarded, shop, fake_shopify):
    from datetime import UTC, datetime

    from posai_app.extensions import db
    from posai_app.models import Shop

    with guarded.app_context():
        db.session.get(Shop, shop.id).uninstalled_at = datetime.now(UTC)
        db.session.commit()
    fake_shopify.fail_with_status = 503
    response = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, shop.domain))
    _assert_401(response, "uninstalled")


def test_shop_needing_reauth_is_reauthorised_by_token_exchange(guarded, seed_shop, fake_shopify, enqueued):
    shop_id = seed_shop("gamma-shop.myshopify.com", needs_reauth=True)
    response = guarded.test_client().get(
        "/api/probe", headers=_bearer(guarded.config, "gamma-shop.myshopify.com")
    )
    assert response.status_code == 200 and response.json["shop_id"] == shop_id
    shop = _shop_row(guarded, "gamma-shop.myshopify.com")
    assert not shop.needs_reauth
    assert shop.access_token == fake_shopify.grants["gamma-shop.myshopify.com"].access_token
    assert len(enqueued) == 1  # syncs were failing while it needed re-auth: catch up


def test_shopify_outage_during_install_is_502_not_500(guarded, fake_shopify):
    fake_shopify.fail_with_status = 503
    response = guarded.test_client().get("/api/probe", headers=_bearer(guarded.config, random_domain()))
    assert response.status_code == 502
    assert response.json["error"]["code"] == "shopify_token_request_failed"


def test_csp_names_the_verified_shop(guarded, shop):
    response = guarded.test_client().get("/app-probe", headers=_bearer(guarded.config, shop.domain))
    assert response.headers["Content-Security-Policy"] == (
        f"frame-ancestors https://{shop.domain} https://admin.shopify.com"
    )


def test_csp_on_a_401_uses_the_validated_shop_query_or_the_fallback(guarded):
    client = guarded.test_client()
    named = client.get("/app-probe?shop=alpha-shop.myshopify.com")
    assert named.headers["Content-Security-Policy"] == (
        "frame-ancestors https://alpha-shop.myshopify.com https://admin.shopify.com"
    )
    for bad in ("evil.com", "shop.myshopify.com.evil.com", "ALPHA.myshopify.com", ""):
        response = client.get(f"/app-probe?shop={bad}")
        assert response.headers["Content-Security-Policy"] == (
            "frame-ancestors https://admin.shopify.com https://*.myshopify.com"
        )


def test_csp_is_added_to_an_existing_policy(guarded):
    from flask import Response

    guarded.add_url_rule(
        "/csp-probe",
        "csp_probe",
        lambda: Response("x", headers={"Content-Security-Policy": "default-src 'self'"}),
    )
    response = guarded.test_client().get("/csp-probe")
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'self'; frame-ancestors https://admin.shopify.com https://*.myshopify.com"
    )


def test_parallel_first_requests_of_a_new_shop_exchange_once(guarded, fake_shopify, enqueued):
    import threading

    domain = random_domain()
    fake_shopify.exchange_delay = 0.3
    barrier = threading.Barrier(3)
    statuses: list[int] = []

    def first_request() -> None:
        headers = _bearer(guarded.config, domain)
        barrier.wait()
        statuses.append(guarded.test_client().get("/api/probe", headers=headers).status_code)

    threads = [threading.Thread(target=first_request) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200, 200, 200]
    assert len(fake_shopify.grant_requests("token_exchange")) == 1
    assert len(enqueued) == 1

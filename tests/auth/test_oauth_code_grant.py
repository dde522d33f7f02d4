"""GET /auth and /auth/callback: the authorization-code install against the fake over real HTTP."""

from __future__ import annotations

import base64
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from posai_app.auth.oauth import STATE_COOKIE, sign_query
from posai_app.ingest.sync import SYNC_JOB_TIMEOUT
from posai_app.queue import RETRY
from tests.helpers import TEST_API_SECRET, TEST_API_SECRET_OLD

DOMAIN = "gamma-shop.myshopify.com"
JSON = {"Accept": "application/json"}


def _signed(params: dict[str, str], secret: str = TEST_API_SECRET) -> str:
    params = {**params, "timestamp": params.get("timestamp", str(int(time.time())))}
    return urlencode({**params, "hmac": sign_query(params, secret)})


def _begin(client, domain: str = DOMAIN):
    response = client.get(f"/auth?{_signed({'shop': domain})}", headers=JSON)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def _approve(authorize_url: str) -> dict[str, str]:
    """The merchant approves on (fake) Shopify: follow the authorize URL over HTTP, read the callback."""
    with httpx.Client() as http:
        approved = http.get(authorize_url)
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://posai.test/auth/callback"
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _shop(app, domain: str):
    from posai_app.extensions import db
    from posai_app.models import Shop

    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.domain == domain))
        if shop is not None:
            db.session.expunge(shop)
        return shop


def test_code_grant_installs_the_shop_and_lands_in_the_embedded_app(app, client, fake_shopify, enqueued):
    begin = _begin(client)
    authorize = urlsplit(begin.headers["Location"])
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        f"{fake_shopify.origin}/{DOMAIN}/admin/oauth/authorize"
    )
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert query["client_id"] == app.config["SHOPIFY_API_KEY"]
    assert query["scope"] == app.config["SHOPIFY_SCOPES"]
    assert query["redirect_uri"] == "https://posai.test/auth/callback"
    assert "grant_options[]" not in query  # offline token
    assert STATE_COOKIE in begin.headers["Set-Cookie"] and "HttpOnly" in begin.headers["Set-Cookie"]

    callback = _approve(begin.headers["Location"])
    assert callback["state"] == query["state"]
    finish = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert finish.status_code == 302, finish.get_data(as_text=True)
    assert finish.headers["Location"] == (
        f"https://admin.shopify.com/store/gamma-shop/apps/{app.config['SHOPIFY_API_KEY']}"
    )

    [exchange] = fake_shopify.grant_requests("authorization_code")
    assert exchange["params"]["code"] == callback["code"] and exchange["params"]["expiring"] == 1
    shop = _shop(app, DOMAIN)
    assert shop.is_installed and shop.access_token == fake_shopify.grants[DOMAIN].access_token
    assert shop.refresh_token == fake_shopify.grants[DOMAIN].refresh_token
    assert shop.access_token_expires_at is not None and shop.scopes == fake_shopify.scope
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


def test_direct_link_without_hmac_starts_the_grant(client, fake_shopify):
    response = client.get(f"/auth?shop={DOMAIN}", headers=JSON)
    assert response.status_code == 302
    assert response.headers["Location"].startswith(f"{fake_shopify.origin}/{DOMAIN}/admin/oauth/authorize?")


@pytest.mark.parametrize(
    "shop",
    ["evil.com", "shop.myshopify.com.evil.com", "GAMMA-SHOP.myshopify.com", "", "gamma shop.myshopify.com"],
)
def test_bad_shop_domain_is_400(client, fake_shopify, shop):
    for path in ("/auth", "/auth/callback"):
        response = client.get(f"{path}?{_signed({'shop': shop})}", headers=JSON)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "invalid_shop_domain"
    assert client.get("/auth", headers=JSON).status_code == 400  # no shop at all


def test_tampered_hmac_is_refused(client, fake_shopify):
    query = _signed({"shop": DOMAIN}).replace(DOMAIN, "delta-shop.myshopify.com")
    response = client.get(f"/auth?{query}", headers=JSON)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "invalid_hmac"


def test_hmac_with_the_old_secret_is_accepted(client, fake_shopify):
    assert (
        client.get(f"/auth?{_signed({'shop': DOMAIN}, TEST_API_SECRET_OLD)}", headers=JSON).status_code == 302
    )


def test_stale_timestamp_is_refused(client, fake_shopify):
    old = str(int(time.time()) - 3600)
    response = client.get(f"/auth?{_signed({'shop': DOMAIN, 'timestamp': old})}", headers=JSON)
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_hmac"


def test_callback_with_tampered_hmac_is_refused_and_installs_nothing(app, client, fake_shopify):
    callback = _approve(_begin(client).headers["Location"])
    callback["code"] = "an-attackers-code"
    response = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_hmac"
    assert _shop(app, DOMAIN) is None and fake_shopify.grant_requests("authorization_code") == []


def test_callback_without_hmac_is_refused(client, fake_shopify):
    callback = _approve(_begin(client).headers["Location"])
    del callback["hmac"]
    assert client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON).status_code == 403


def test_callback_with_wrong_state_is_refused(app, client, fake_shopify):
    begin = _begin(client)
    callback = _approve(begin.headers["Location"])
    callback["state"] = "not-the-nonce-we-issued"
    callback["hmac"] = sign_query({k: v for k, v in callback.items() if k != "hmac"}, TEST_API_SECRET)
    response = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_state"
    assert _shop(app, DOMAIN) is None


def test_callback_without_the_state_cookie_is_refused(app, fake_shopify):
    callback = _approve(_begin(app.test_client()).headers["Location"])
    response = app.test_client().get(f"/auth/callback?{urlencode(callback)}", headers=JSON)  # other browser
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_state"


def test_state_issued_for_another_shop_is_refused(client, fake_shopify):
    begin = _begin(client, "delta-shop.myshopify.com")
    nonce = parse_qs(urlsplit(begin.headers["Location"]).query)["state"][0]
    params = {"code": "x", "shop": DOMAIN, "state": nonce}
    response = client.get(f"/auth/callback?{_signed(params)}", headers=JSON)
    assert response.status_code == 403 and response.json["error"]["code"] == "invalid_state"


def test_replayed_callback_is_refused(app, client, fake_shopify, enqueued):
    begin = _begin(client)
    cookie = client.get_cookie(STATE_COOKIE, path="/auth").value
    callback = _approve(begin.headers["Location"])
    assert client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON).status_code == 302
    # An attacker who captured both the callback URL and the cookie replays them.
    client.set_cookie(STATE_COOKIE, cookie, path="/auth")
    replay = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert replay.status_code == 403 and replay.json["error"]["code"] == "invalid_state"
    assert len(fake_shopify.grant_requests("authorization_code")) == 1


def test_code_shopify_refuses_is_400(app, client, fake_shopify):
    callback = _approve(_begin(client).headers["Location"])
    fake_shopify.codes[callback["code"]]["used"] = True  # already redeemed at Shopify
    response = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "authorization_code_rejected"
    assert _shop(app, DOMAIN) is None


def test_unverifiable_host_falls_back_to_the_shop_admin(app, client, fake_shopify, enqueued):
    begin = _begin(client)
    callback = _approve(begin.headers["Location"])
    callback["host"] = base64.urlsafe_b64encode(b"evil.example/phish").decode()
    callback["hmac"] = sign_query({k: v for k, v in callback.items() if k != "hmac"}, TEST_API_SECRET)
    response = client.get(f"/auth/callback?{urlencode(callback)}", headers=JSON)
    assert response.headers["Location"] == f"https://{DOMAIN}/admin/apps/{app.config['SHOPIFY_API_KEY']}"

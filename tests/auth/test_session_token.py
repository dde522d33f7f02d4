"""verify_session_token: every rule of Shopify's session tokens, and shopifyapp's dest-less gap closed."""

from __future__ import annotations

import base64
import json
import time
import warnings

import jwt
import pytest

from posai_app.auth.session_token import SessionTokenError, verify_session_token
from tests.helpers import TEST_API_SECRET_OLD, TEST_SETTINGS, make_session_token

SHOP = "alpha-shop.myshopify.com"


@pytest.fixture
def cfg() -> dict:
    """Only the settings verification reads: these tests need no app, database or Redis."""
    return dict(TEST_SETTINGS)


def _refused(config, token: str) -> str:
    with pytest.raises(SessionTokenError) as info:
        verify_session_token(token, config)
    return info.value.reason


def test_valid_token_yields_claims_and_shop_domain(cfg):
    claims = verify_session_token(make_session_token(cfg, SHOP), cfg)
    assert claims["shop_domain"] == SHOP
    assert claims["dest"] == f"https://{SHOP}"
    assert claims["aud"] == cfg["SHOPIFY_API_KEY"]


def test_token_signed_with_the_old_secret_is_accepted_during_rotation(cfg):
    token = make_session_token(cfg, SHOP, secret=TEST_API_SECRET_OLD)
    assert verify_session_token(token, cfg)["shop_domain"] == SHOP


def test_pos_token_without_sid_iss_sub_is_accepted(cfg):
    token = make_session_token(cfg, SHOP, sid=None, iss=None, sub=None)
    assert verify_session_token(token, cfg)["shop_domain"] == SHOP


def test_expired_token_is_refused(cfg):
    now = int(time.time())
    assert _refused(cfg, make_session_token(cfg, SHOP, exp=now - 11, iat=now - 70)) == "expired"


def test_expiry_within_the_10_second_leeway_is_accepted(cfg):
    now = int(time.time())
    token = make_session_token(cfg, SHOP, exp=now - 5, iat=now - 65, nbf=now - 65)
    assert verify_session_token(token, cfg)["shop_domain"] == SHOP


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_not_yet_valid_is_refused(cfg, claim):
    now = int(time.time())
    token = make_session_token(cfg, SHOP, exp=now + 120, **{claim: now + 30})
    assert _refused(cfg, token) == "invalid"


def test_wrong_audience_is_refused(cfg):
    token = make_session_token(cfg, SHOP, aud="another-apps-client-id")
    assert _refused(cfg, token) == "wrong_audience"


def test_wrong_signature_is_refused(cfg):
    token = make_session_token(cfg, SHOP, secret="an-attackers-secret-0123456789abcdef0123456789")
    assert _refused(cfg, token) == "invalid"


def test_tampered_payload_is_refused(cfg):
    header, _payload, signature = make_session_token(cfg, SHOP).split(".")
    claims = {"dest": "https://beta-shop.myshopify.com", "aud": cfg["SHOPIFY_API_KEY"], "exp": 2**31}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert _refused(cfg, f"{header}.{forged}.{signature}") == "invalid"


def test_alg_none_is_refused(cfg):
    now = int(time.time())
    claims = {"dest": f"https://{SHOP}", "aud": cfg["SHOPIFY_API_KEY"], "exp": now + 60, "iat": now}

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert _refused(cfg, unsigned) in ("invalid", "malformed")


def test_other_hmac_algorithm_is_refused(cfg):
    now = int(time.time())
    claims = {"dest": f"https://{SHOP}", "aud": cfg["SHOPIFY_API_KEY"], "exp": now + 60}
    with warnings.catch_warnings():  # PyJWT warns that a 48-byte key is short for SHA-512
        warnings.simplefilter("ignore")
        token = jwt.encode(claims, cfg["SHOPIFY_API_SECRET"], algorithm="HS512")
    assert _refused(cfg, token) == "invalid"


def test_missing_dest_is_refused_although_shopifyapp_accepts_it(cfg):
    token = make_session_token(cfg, SHOP, dest=None)
    # The library gap the issue names: shopifyapp 1.0.2 says ok, with an empty shop.
    from shopify_app import verify_pos_ui_ext_req

    library = verify_pos_ui_ext_req(
        {"method": "POST", "headers": {"authorization": f"Bearer {token}"}, "url": "https://x", "body": ""},
        {"client_id": cfg["SHOPIFY_API_KEY"], "client_secret": cfg["SHOPIFY_API_SECRET"]},
    )
    assert library.ok and not library.shop
    assert _refused(cfg, token) == "missing_dest"


def test_missing_exp_is_refused(cfg):
    token = make_session_token(cfg, SHOP, exp=None)
    assert _refused(cfg, token) == "missing_exp"


@pytest.mark.parametrize(
    "dest",
    [
        "https://evil.com",
        "https://shop.myshopify.com.evil.com",
        "https://ALPHA-SHOP.myshopify.com",
        "https://",
        "",
        "http://alpha-shop.myshopify.com",
        "https://alpha-shop.myshopify.com/admin",
        "https://-alpha.myshopify.com",
        "https://alpha_shop.myshopify.com",
        "alpha-shop.myshopify.com",
    ],
)
def test_dest_that_is_not_a_shop_url_is_refused(cfg, dest):
    token = make_session_token(cfg, SHOP, dest=dest, iss=None)
    assert _refused(cfg, token) in ("invalid_dest", "missing_dest")


def test_issuer_on_another_host_is_refused(cfg):
    token = make_session_token(cfg, SHOP, iss="https://beta-shop.myshopify.com/admin")
    assert _refused(cfg, token) == "issuer_mismatch"


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_refused(cfg, token):
    assert _refused(cfg, token) in ("malformed", "invalid")


def test_a_verified_token_is_accepted_again_without_the_library(cfg, monkeypatch):
    from posai_app.auth import session_token

    token = make_session_token(cfg, SHOP)
    first = verify_session_token(token, cfg)
    monkeypatch.setattr(session_token, "_library_verify", lambda *_: pytest.fail("verified twice"))
    again = verify_session_token(token, cfg)
    assert again == first and again is not first


def test_a_remembered_token_is_verified_afresh_once_expired(cfg, monkeypatch):
    from posai_app.auth import session_token

    token = make_session_token(cfg, SHOP)
    exp = verify_session_token(token, cfg)["exp"]
    asked = []

    def library_at_that_time(*_):
        asked.append(True)
        raise SessionTokenError("expired", "Session token has expired")

    monkeypatch.setattr(session_token, "_library_verify", library_at_that_time)
    monkeypatch.setattr(session_token.time, "time", lambda: exp + session_token.LEEWAY_SECONDS + 1)
    assert _refused(cfg, token) == "expired" and asked


def test_a_remembered_token_counts_only_for_the_credentials_that_verified_it(cfg):
    token = make_session_token(cfg, SHOP)
    verify_session_token(token, cfg)
    other_app = {**cfg, "SHOPIFY_API_SECRET": "another-secret-0123456789abcdef0123456789abcdef"}
    other_app["SHOPIFY_API_SECRET_OLD"] = None
    assert _refused(other_app, token) == "invalid"


@pytest.mark.parametrize("dest", [123, ["https://alpha-shop.myshopify.com"], {"shop": "x"}, True])
def test_a_signed_token_with_a_dest_of_the_wrong_type_is_401_not_500(client, shop, app, dest):
    token = make_session_token(app.config, shop.domain, dest=dest)
    response = client.post(
        "/api/recommendations", json={"cartVariantIds": ["1"]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"

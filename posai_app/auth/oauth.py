"""Authorization-code OAuth: query HMAC, the one-time state nonce, the authorize URL, the code exchange.

Used for installs that do not come through managed install (custom apps, direct links).
Managed installs arrive with a session token and go through token exchange instead.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.datastructures import MultiDict

from posai_app.auth.domains import is_valid_shop_domain
from posai_app.auth.tokens import HTTP_TIMEOUT, TokenRequestFailed
from posai_app.errors import AppError, BadRequest, Forbidden
from posai_app.queue import get_redis
from posai_app.shopify.urls import oauth_token_url, shop_base_url

log = logging.getLogger(__name__)

STATE_COOKIE = "posai_oauth_state"
STATE_MAX_AGE = 600  # seconds a merchant has to approve the install
# Seconds a signed query's timestamp may differ from our clock, either way (shopify-api-js:
# HMAC_TIMESTAMP_PERMITTED_CLOCK_TOLERANCE_SEC). Shopify redirects with a fresh timestamp.
HMAC_TOLERANCE = 90


class InvalidShopDomain(BadRequest):
    code = "invalid_shop_domain"


class InvalidHmac(Forbidden):
    code = "invalid_hmac"


class InvalidState(Forbidden):
    code = "invalid_state"


class AuthorizationCodeRejected(AppError):
    status, code = 400, "authorization_code_rejected"


def require_shop_domain(value: object) -> str:
    """The value when it is a valid shop domain, else InvalidShopDomain (400)."""
    if not is_valid_shop_domain(value):
        raise InvalidShopDomain("The shop parameter must be a {name}.myshopify.com domain")
    return value  # type: ignore[return-value]


# --------------------------------------------------------------------------- query HMAC
#
# Shopify signs the query it sends (install link, code-grant callback) as Shopify's own
# libraries verify it: every parameter but `hmac`/`signature`, sorted by key, each pair
# URL-encoded (application/x-www-form-urlencoded, spaces as %20), joined by `&`; a repeated
# key is one pair with its values joined by `,`. So `host`'s base64 padding is signed as
# `%3D`, never as a raw `=`. Sources: shopify-api-js lib/utils/hmac-validator.ts
# (normalizeQuery, stringifyQueryForAdmin) + lib/utils/processed-query.ts, and its test
# "spaces in param values are percent-encoded (%20), not plus-encoded"
# (https://github.com/Shopify/shopify-app-js/tree/main/packages/apps/shopify-api/lib/utils);
# shopify-api-ruby lib/shopify_api/auth/oauth/auth_query.rb (URI.encode_www_form);
# https://shopify.dev/docs/apps/build/authentication-authorization/access-tokens/authorization-code-grant
# (step 1, verify the installation request). tests/shopify_contract/test_hmac_vectors.py checks
# this against vectors signed by @shopify/shopify-api itself.


def _form_encode(text: str) -> str:
    # URLSearchParams' serializer keeps only ASCII alphanumerics and *-._; Python's quote
    # also keeps "~", which URLSearchParams encodes.
    return quote(text, safe="*").replace("~", "%7E")


def query_hmac_message(args: MultiDict | Mapping[str, Any]) -> str:
    """Shopify's signed message: all parameters but hmac/signature, sorted by key, URL-encoded, &-joined."""
    items = args.lists() if isinstance(args, MultiDict) else ((k, [v]) for k, v in args.items())
    # Keys sort by code point; the library's localeCompare agrees on the lowercase ASCII
    # letters, digits and "_" of every parameter Shopify signs.
    joined = sorted((str(key), ",".join(map(str, values))) for key, values in items)
    return "&".join(
        f"{_form_encode(key)}={_form_encode(value)}"
        for key, value in joined
        if key not in ("hmac", "signature")
    )


def sign_query(args: Mapping[str, Any], secret: str) -> str:
    """Hex HMAC-SHA256 of the query as Shopify computes it."""
    return hmac.new(secret.encode(), query_hmac_message(args).encode(), hashlib.sha256).hexdigest()


def verify_query_hmac(args: MultiDict, config: Mapping[str, Any]) -> None:
    """Check the `hmac` of a query Shopify signed (current or old secret) and its `timestamp`."""
    received = args.get("hmac", "")
    # Shopify sends lowercase hex; the library compares the strings as they are.
    if not received or not re.fullmatch(r"[0-9a-f]{64}", received):
        raise InvalidHmac("The request is not signed by Shopify")
    message = query_hmac_message(args).encode()
    valid = False
    for secret in (config["SHOPIFY_API_SECRET"], config.get("SHOPIFY_API_SECRET_OLD")):
        if secret:
            expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
            valid |= hmac.compare_digest(expected, received)
    if not valid:
        raise InvalidHmac("The request's Shopify signature does not match")
    timestamp = args.get("timestamp", "")
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise InvalidHmac("The signed request has no valid timestamp")
    if abs(time.time() - int(timestamp)) > HMAC_TOLERANCE:
        raise InvalidHmac("The signed request is too old or from the future")


# --------------------------------------------------------------------------- state nonce


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="posai-oauth-state")


def new_state(shop_domain: str) -> tuple[str, str]:
    """A fresh nonce and the signed cookie value that binds it to the shop."""
    nonce = secrets.token_urlsafe(32)
    return nonce, _serializer().dumps({"nonce": nonce, "shop": shop_domain})


_used_nonces: dict[str, float] = {}
_used_nonces_guard = threading.Lock()


def _consume_nonce(nonce: str) -> bool:
    """Mark the nonce used; False when it already was (a replayed callback)."""
    digest = hashlib.sha256(nonce.encode()).hexdigest()
    redis = get_redis()
    if redis is not None:
        return bool(redis.set(f"posai:auth:state:{digest}", 1, nx=True, ex=STATE_MAX_AGE * 2))
    now = time.monotonic()
    with _used_nonces_guard:  # no Redis: development, one process
        for key in [k for k, expiry in _used_nonces.items() if expiry < now]:
            del _used_nonces[key]
        if digest in _used_nonces:
            return False
        _used_nonces[digest] = now + STATE_MAX_AGE * 2
        return True


def check_state(cookie_value: str | None, state: str | None, shop_domain: str) -> None:
    """The callback's `state` must equal the nonce in our signed cookie, for this shop, once."""
    if not cookie_value or not state:
        raise InvalidState("The OAuth state is missing: start the install again")
    try:
        saved = _serializer().loads(cookie_value, max_age=STATE_MAX_AGE)
    except BadSignature:
        raise InvalidState("The OAuth state cookie is invalid or expired: start the install again") from None
    nonce = str(saved.get("nonce", ""))
    if not hmac.compare_digest(nonce.encode(), state.encode()) or saved.get("shop") != shop_domain:
        raise InvalidState("The OAuth state does not match this install")
    if not _consume_nonce(nonce):
        raise InvalidState("The OAuth state was already used")


# --------------------------------------------------------------------------- URLs and the exchange


def authorize_url(shop_domain: str, nonce: str) -> str:
    """Shopify's authorize page for an offline (shop-wide) grant of our scopes."""
    config = current_app.config
    query = urlencode(
        {
            "client_id": config["SHOPIFY_API_KEY"],
            "scope": config["SHOPIFY_SCOPES"],
            "redirect_uri": config["APP_URL"].rstrip("/") + "/auth/callback",
            "state": nonce,
        }
    )
    return f"{shop_base_url(shop_domain)}/admin/oauth/authorize?{query}"


def exchange_authorization_code(shop_domain: str, code: str) -> dict[str, Any]:
    """POST the code to the shop's token endpoint (expiring offline token); return the token response."""
    config = current_app.config
    payload = {
        "client_id": config["SHOPIFY_API_KEY"],
        "client_secret": config["SHOPIFY_API_SECRET"],
        "code": code,
        "expiring": 1,
    }
    try:
        with httpx.Client(timeout=HTTP_TIMEOUT) as client:
            response = client.post(
                oauth_token_url(shop_domain), json=payload, headers={"Accept": "application/json"}
            )
    except httpx.HTTPError as exc:
        raise TokenRequestFailed(f"Could not reach Shopify ({exc.__class__.__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        log.info("authorization code exchanged for %s", shop_domain)
        return body
    error = body.get("error", "unknown_error") if isinstance(body, dict) else "unknown_error"
    log.warning("authorization code exchange for %s failed: %s %s", shop_domain, response.status_code, error)
    if response.status_code in (400, 401, 403) and error != "invalid_client":
        raise AuthorizationCodeRejected(
            "Shopify refused the authorization code: start the install again", details={"reason": error}
        )
    raise TokenRequestFailed(f"Shopify's token endpoint failed ({response.status_code} {error})")


_HOST_RE = re.compile(r"^admin\.shopify\.com/store/[a-z0-9][a-z0-9-]*$")


def embedded_app_url(shop_domain: str, host: str | None) -> str:
    """Where the merchant lands after the code grant: the app inside the Shopify admin."""
    api_key = current_app.config["SHOPIFY_API_KEY"]
    if host:
        try:
            decoded = base64.urlsafe_b64decode(host + "=" * (-len(host) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        # Only Shopify admin origins: `host` is unsigned input and must not become an open redirect.
        if _HOST_RE.fullmatch(decoded) or decoded == f"{shop_domain}/admin":
            return f"https://{decoded}/apps/{api_key}"
    return f"https://{shop_domain}/admin/apps/{api_key}"

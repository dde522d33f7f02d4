"""Session token (ID token) verification for App Bridge and POS UI extension requests.

shopifyapp checks the signature (current and old secret, HS256 only), exp/nbf/iat with
10 s leeway and the audience; we then enforce what it leaves out: `exp` must be present,
`dest` must be present and be `https://{valid shop domain}` (shopifyapp 1.0.2 answers ok
with an empty shop for a signed token without `dest`), and `iss`, when present, must be on
the same host. POS tokens carry no `sid`/`iss`/`sub`, so none of those is required.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt

from posai_app.auth.domains import is_valid_shop_domain

log = logging.getLogger(__name__)

LEEWAY_SECONDS = 10
MAX_VERIFIED_TOKENS = 10_000
# (token, app credentials) -> (deadline, claims); oldest first; entries are never mutated
_verified: OrderedDict[tuple, tuple[float, dict[str, Any]]] = OrderedDict()
_verified_lock = threading.Lock()


class SessionTokenError(Exception):
    """A session token was refused; `reason` is a stable snake_case word for logs and details."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _library_verify(token: str, config: Mapping[str, Any]) -> dict[str, Any]:
    from shopify_app import verify_pos_ui_ext_req

    try:
        result = _library_call(verify_pos_ui_ext_req, token, config)
    except (TypeError, ValueError, AttributeError, KeyError):
        # shopifyapp 1.0.x raises on signed claims of the wrong type (a numeric or list `dest`):
        # a token we cannot read is an invalid token, never a 500.
        log.info("session token rejected: the library could not read its claims")
        raise SessionTokenError("invalid", "Session token is invalid") from None
    if result.ok and result.id_token is not None:
        return dict(result.id_token.claims)
    code = result.log.code if result.log else "invalid_id_token"
    if code == "expired_id_token":
        raise SessionTokenError("expired", "Session token has expired")
    if code == "invalid_aud":
        raise SessionTokenError("wrong_audience", "Session token was issued for another app")
    raise SessionTokenError("invalid", "Session token is invalid")


def _library_call(verify_pos_ui_ext_req, token: str, config: Mapping[str, Any]):
    return verify_pos_ui_ext_req(
        {
            "method": "POST",
            "headers": {"authorization": f"Bearer {token}"},
            "url": str(config.get("APP_URL") or "https://localhost"),
            "body": "",
        },
        {
            "client_id": config["SHOPIFY_API_KEY"],
            "client_secret": config["SHOPIFY_API_SECRET"],
            "old_client_secret": config.get("SHOPIFY_API_SECRET_OLD") or None,
        },
    )


def _shop_domain_from_dest(dest: object) -> str:
    if not isinstance(dest, str) or not dest:
        raise SessionTokenError("missing_dest", "Session token has no shop (dest claim)")
    prefix = "https://"
    domain = dest[len(prefix) :] if dest.startswith(prefix) else ""
    if not is_valid_shop_domain(domain):
        raise SessionTokenError("invalid_dest", "Session token's dest is not a valid shop URL")
    return domain


def verify_session_token(token: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """Verify a Shopify session token; return its claims plus `shop_domain`, or raise SessionTokenError.

    A token that verified before (same string, same app credentials) is accepted again from a
    small per-process cache until its `exp` (+ leeway): POS devices send the same token with
    every request for its minute of life, and its signature cannot have changed meanwhile.
    """
    if not isinstance(token, str) or not token.strip() or token.count(".") != 2:
        raise SessionTokenError("malformed", "Session token is missing or malformed")
    token = token.strip()
    key = (
        token,
        config["SHOPIFY_API_KEY"],
        config["SHOPIFY_API_SECRET"],
        config.get("SHOPIFY_API_SECRET_OLD"),
    )
    cached = _verified.get(key)
    if cached is not None and time.time() < cached[0]:
        return dict(cached[1])
    claims = _verify_uncached(token, config)
    with _verified_lock:
        _verified[key] = (float(claims["exp"]) + LEEWAY_SECONDS, claims)
        while len(_verified) > MAX_VERIFIED_TOKENS:
            _verified.popitem(last=False)
    return dict(claims)


def _verify_uncached(token: str, config: Mapping[str, Any]) -> dict[str, Any]:
    claims = _library_verify(token, config)
    if "exp" not in claims:
        raise SessionTokenError("missing_exp", "Session token has no expiry")
    shop_domain = _shop_domain_from_dest(claims.get("dest"))
    iss = claims.get("iss")
    if iss is not None:
        parts = urlsplit(iss) if isinstance(iss, str) else None
        if parts is None or parts.scheme != "https" or parts.netloc != shop_domain:
            raise SessionTokenError("issuer_mismatch", "Session token's issuer does not match its shop")
    claims["shop_domain"] = shop_domain
    return claims


def mint_session_token(
    config: Mapping[str, Any], shop_domain: str, ttl: int, subject: str | None = None
) -> str:
    """A session token shaped like App Bridge's, signed with our API secret (demo and local curl use).

    Verified by the same `verify_session_token` path as Shopify's own tokens.
    """
    now = int(time.time())
    claims = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": config["SHOPIFY_API_KEY"],
        "exp": now + ttl,
        "nbf": now - 1,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    if subject is not None:
        claims["sub"] = subject
    return jwt.encode(claims, config["SHOPIFY_API_SECRET"], algorithm="HS256")

"""Test helpers shared across features (settings, session tokens)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.fernet import Fernet

TEST_API_KEY = "test-api-key-posai"
TEST_API_SECRET = "test-api-secret-posai-0123456789abcdef0123456789"  # >= 32 bytes
TEST_API_SECRET_OLD = "test-api-secret-old-posai-0123456789abcdef012345"

TEST_SETTINGS: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789abcdef",
    "SHOPIFY_API_KEY": TEST_API_KEY,
    "SHOPIFY_API_SECRET": TEST_API_SECRET,
    "SHOPIFY_API_SECRET_OLD": TEST_API_SECRET_OLD,
    "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "APP_URL": "https://posai.test",
    "POSAI_ENV": "test",
}


def make_session_token(
    config: Mapping[str, Any], shop_domain: str, *, secret: str | None = None, **claims: Any
) -> str:
    """A session token shaped like App Bridge's (HS256, aud = API key, dest = shop URL)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": config["SHOPIFY_API_KEY"],
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret or config["SHOPIFY_API_SECRET"], algorithm="HS256")

"""Webhook authenticity: base64 HMAC-SHA256 of the raw body with the app's client secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def compute_hmac(secret: str, body: bytes) -> str:
    """The value Shopify puts in X-Shopify-Hmac-Sha256 for this body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_hmac(body: bytes, header_value: str | None, secrets: Iterable[str | None]) -> bool:
    """True if the header matches the body under any configured secret (current, then old).

    Every secret is checked with a constant-time comparison, so timing reveals nothing.
    """
    if not header_value:
        return False
    given = header_value.strip().encode()
    matched = False
    for secret in secrets:
        if secret:
            matched |= hmac.compare_digest(compute_hmac(secret, body).encode(), given)
    return matched

"""Recommendation ids: an opaque, signed token minted with every API answer, verified without SQL.

A `recommendationId` names one answer: the shop, the scorer and model version that answered,
the arm (champion or challenger), when, a digest of the cart, the ranked variant ids and which of
them were the merchant's pins (`source: "pinned"`, posai_app.reco.serving). It is
an HMAC-SHA256-signed (truncated to 96 bits) compact binary record, base64url without padding,
so minting costs microseconds and no write: the API stays SQL-free when warm. It is stored only
when the POS reports it (`POST /api/events`, `shown`), and when an order line carries it as
its `_posai` property (posai_app.impact.attribution).

Verifying gives back everything the API knew when it answered, so an event or an order line
cannot claim another shop's recommendation (the shop id is signed, and must equal the caller's),
an item the answer did not hold, or a recommendation that was never issued.

Layout (version 2), all integers big-endian:
`version u8 | shop_id u64 | model_version u32 | issued_at u32 (Unix s) | arm u8 | nonce 6 B |
cart digest 6 B | metric length u8 | metric (ASCII) | item count u8 | items u64 × count |
pinned u32`, then the 12-byte signature over all of it; bit i of `pinned` (least significant
first) says item i was a pin. With two items and a 15-character metric that is 79 bytes, 106
characters. Version 1, minted before pins were recorded, is the same without `pinned`; such ids
(up to MAX_AGE_SECONDS old) still verify, as answers with no pins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

VERSION = 2
VERSIONS = (1, 2)  # what verify accepts: version 1 has no pinned mask
SIGNATURE_BYTES = 12
MAX_ITEMS = 32  # also the width of the pinned mask
MAX_METRIC = 64
MAX_LENGTH = 400  # characters: far above any id we mint (10 items, 64-character metric: 256)
MAX_AGE_SECONDS = 30 * 24 * 3600  # events and order tags older than this are not attributed
CLOCK_SKEW_SECONDS = 300
ARMS = ("champion", "challenger")
_HEAD = struct.Struct(">BQIIB")
_KEY_INFO = b"posai recommendation id v1"
_clock = time.time  # replaced in tests that need ids fixed in advance
_random = os.urandom


class InvalidRecommendationId(ValueError):
    """Not a recommendation id of ours: `reason` is a stable word (`malformed`, `signature`, ...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Recommendation:
    """What a verified id says about the answer it names."""

    id: str
    shop_id: int
    metric: str
    model_version: int
    issued_at: datetime
    arm: str
    cart_digest: bytes
    variant_ids: tuple[int, ...]
    pinned: tuple[int, ...] = ()  # those of variant_ids that were the merchant's pins, in rank order


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_INFO, hashlib.sha256).digest()


def signing_key(config: Mapping[str, Any]) -> bytes:
    """The ids' key, derived from the app's SECRET_KEY (so every process of a deployment agrees)."""
    return _key(str(config["SECRET_KEY"]))


def cart_digest(cart_variant_ids: Sequence[int | str]) -> bytes:
    """6 bytes naming the cart as a set of variant ids (order and repeats do not matter)."""
    text = ",".join(str(v) for v in sorted({int(v) for v in cart_variant_ids}))
    return hashlib.sha256(text.encode()).digest()[:6]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(
    key: bytes,
    shop_id: int,
    metric: str,
    model_version: int,
    cart_variant_ids: Sequence[int | str],
    variant_ids: Sequence[int | str],
    *,
    arm: str = "champion",
    pinned: Sequence[int | str] = (),
    now: float | None = None,
) -> str:
    """A new id for one answer (unique: 48 random bits beside the second it was issued); `pinned`
    names the items that were pins."""
    name = (metric or "").encode("ascii", "replace")[:MAX_METRIC]
    items = [int(v) for v in variant_ids][:MAX_ITEMS]
    pins = {int(v) for v in pinned}
    mask = sum(1 << i for i, v in enumerate(items) if v in pins)
    body = b"".join(
        (
            _HEAD.pack(
                VERSION,
                shop_id,
                int(model_version or 0) & 0xFFFFFFFF,
                int(_clock() if now is None else now) & 0xFFFFFFFF,
                ARMS.index(arm),
            ),
            _random(6),
            cart_digest(cart_variant_ids),
            bytes((len(name),)),
            name,
            bytes((len(items),)),
            struct.pack(f">{len(items)}Q", *items),
            struct.pack(">I", mask),
        )
    )
    return _b64(body + hmac.new(key, body, hashlib.sha256).digest()[:SIGNATURE_BYTES])


def verify(
    key: bytes, token: Any, shop_id: int, *, now: float | None = None, max_age: int = MAX_AGE_SECONDS
) -> Recommendation:
    """The answer `token` names, if we issued it to `shop_id` within `max_age`; else raises
    InvalidRecommendationId."""
    if not isinstance(token, str) or not 20 <= len(token) <= MAX_LENGTH:
        raise InvalidRecommendationId("malformed")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidRecommendationId("malformed") from None
    if _b64(raw) != token or len(raw) < _HEAD.size + 14 + SIGNATURE_BYTES:
        raise InvalidRecommendationId("malformed")
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if not hmac.compare_digest(signature, hmac.new(key, body, hashlib.sha256).digest()[:SIGNATURE_BYTES]):
        raise InvalidRecommendationId("signature")
    version, owner, model_version, issued, arm = _HEAD.unpack_from(body)
    if version not in VERSIONS or arm >= len(ARMS):
        raise InvalidRecommendationId("malformed")
    if owner != shop_id:
        raise InvalidRecommendationId("other_shop")
    offset = _HEAD.size + 6
    digest = body[offset : offset + 6]
    offset += 6
    metric_length = body[offset]
    metric = body[offset + 1 : offset + 1 + metric_length].decode("ascii", "replace")
    offset += 1 + metric_length
    count = body[offset] if offset < len(body) else -1
    mask_bytes = 4 if version >= 2 else 0
    if count < 0 or len(body) != offset + 1 + 8 * count + mask_bytes:
        raise InvalidRecommendationId("malformed")
    items = struct.unpack_from(f">{count}Q", body, offset + 1)
    mask = int.from_bytes(body[len(body) - mask_bytes :], "big") if mask_bytes else 0
    current = _clock() if now is None else now
    if issued > current + CLOCK_SKEW_SECONDS:
        raise InvalidRecommendationId("from_the_future")
    if current - issued > max_age:
        raise InvalidRecommendationId("expired")
    return Recommendation(
        id=token,
        shop_id=owner,
        metric=metric,
        model_version=model_version,
        issued_at=datetime.fromtimestamp(issued, UTC),
        arm=ARMS[arm],
        cart_digest=digest,
        variant_ids=tuple(items),
        pinned=tuple(v for i, v in enumerate(items) if mask >> i & 1),
    )

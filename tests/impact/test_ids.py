"""Recommendation ids: signed, tied to their shop, items and time; minted with every answer."""

from __future__ import annotations

import pytest

from posai_app.impact import ids

KEY = ids._key("a-secret-key")
NOW = 1_800_000_000.0


def _mint(**changes):
    args = {
        "shop_id": 7,
        "metric": "ease_decay+ease",
        "model_version": 12,
        "cart": [3, 1, 2],
        "items": [10, 11],
    }
    args.update(changes)
    return ids.mint(
        KEY, args["shop_id"], args["metric"], args["model_version"], args["cart"], args["items"], now=NOW
    )


def test_an_id_verifies_and_names_its_answer():
    token = _mint()
    rec = ids.verify(KEY, token, 7, now=NOW + 60)
    assert (rec.shop_id, rec.metric, rec.model_version, rec.arm) == (7, "ease_decay+ease", 12, "champion")
    assert rec.variant_ids == (10, 11)
    assert rec.cart_digest == ids.cart_digest([1, 2, 3]) == ids.cart_digest(["2", 3, 1, 1])
    assert rec.issued_at.timestamp() == NOW
    assert rec.pinned == ()
    assert len(token) <= 106 and token.isascii() and "=" not in token


def test_an_id_names_which_items_were_pins():
    token = ids.mint(KEY, 7, "cosine", 3, [1], [10, 11, 12, 13], pinned=["12", 10, 99], now=NOW)
    rec = ids.verify(KEY, token, 7, now=NOW)
    assert rec.variant_ids == (10, 11, 12, 13)
    assert rec.pinned == (10, 12)  # in rank order; 99 was not an item


def test_a_pin_at_the_last_of_the_apis_10_items_is_kept():
    items = list(range(100, 110))
    token = ids.mint(KEY, 7, "cosine", 3, [1], items, pinned=[items[-1]], now=NOW)
    assert ids.verify(KEY, token, 7, now=NOW).pinned == (items[-1],)


# Minted by the version-1 code (before pins were recorded), nonce bytes 01..06: ids like it are
# in POS carts and order tags for up to 30 days after the upgrade.
V1_TOKEN = (
    "AQAAAAAAAAAHAAAADGtJ0gAAAQIDBAUGimrhUSIAD2Vhc2VfZGVjYXkrZWFzZQIAAAAAAAAACgAAAAAAAAALGt_mqQq7VMNNgFDb"
)


def test_a_version_1_id_still_verifies_as_an_answer_without_pins():
    rec = ids.verify(KEY, V1_TOKEN, 7, now=NOW + 60)
    assert (rec.shop_id, rec.metric, rec.model_version, rec.arm) == (7, "ease_decay+ease", 12, "champion")
    assert rec.variant_ids == (10, 11)
    assert rec.pinned == ()
    assert rec.cart_digest == ids.cart_digest([1, 2, 3])


def test_a_version_1_id_with_a_mask_appended_or_an_unknown_version_is_refused():
    raw = ids.base64.urlsafe_b64decode(V1_TOKEN + "=" * (-len(V1_TOKEN) % 4))
    body = raw[: -ids.SIGNATURE_BYTES]

    def signed(b: bytes) -> str:
        return ids._b64(b + ids.hmac.new(KEY, b, ids.hashlib.sha256).digest()[: ids.SIGNATURE_BYTES])

    for forged in (body + b"\x00\x00\x00\x01", b"\x03" + body[1:], b"\x02" + body[1:]):
        with pytest.raises(ids.InvalidRecommendationId) as refused:
            ids.verify(KEY, signed(forged), 7, now=NOW)
        assert refused.value.reason == "malformed"


def test_ids_are_unique_even_for_the_same_answer():
    assert len({_mint() for _ in range(200)}) == 200


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "malformed"),
        ("short", "malformed"),
        ("!" * 40, "malformed"),
        ("A" * 401, "malformed"),
    ],
)
def test_garbage_is_refused(token, reason):
    with pytest.raises(ids.InvalidRecommendationId) as refused:
        ids.verify(KEY, token, 7, now=NOW)
    assert refused.value.reason == reason


def test_a_changed_byte_another_key_another_shop_or_age_is_refused():
    token = _mint()
    tampered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    cases = [
        (lambda: ids.verify(KEY, tampered, 7, now=NOW), "signature"),
        (lambda: ids.verify(ids._key("other"), token, 7, now=NOW), "signature"),
        (lambda: ids.verify(KEY, token, 8, now=NOW), "other_shop"),
        (lambda: ids.verify(KEY, token, 7, now=NOW + ids.MAX_AGE_SECONDS + 1), "expired"),
        (lambda: ids.verify(KEY, token, 7, now=NOW - 3600), "from_the_future"),
    ]
    for call, reason in cases:
        with pytest.raises(ids.InvalidRecommendationId) as refused:
            call()
        assert refused.value.reason == reason


def test_an_empty_answer_and_a_challenger_answer_have_ids_too():
    token = ids.mint(KEY, 7, "popularity", 0, [5], [], arm="challenger", now=NOW)
    rec = ids.verify(KEY, token, 7, now=NOW)
    assert rec.variant_ids == () and rec.arm == "challenger"


def test_every_api_answer_carries_a_fresh_id_of_the_calling_shop(app, client, small_shop, auth_headers):
    seen = set()
    for _ in range(3):
        body = client.post(
            "/api/recommendations", json={"cartVariantIds": ["1003"]}, headers=auth_headers(small_shop)
        ).get_json()
        rec = ids.verify(ids.signing_key(app.config), body["recommendationId"], small_shop.id)
        assert rec.metric == body["metric"]
        assert [str(v) for v in rec.variant_ids] == [r["variantId"] for r in body["recommendations"]]
        assert rec.cart_digest == ids.cart_digest([1003])
        seen.add(body["recommendationId"])
    assert len(seen) == 3

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
    assert len(token) <= 100 and token.isascii() and "=" not in token


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

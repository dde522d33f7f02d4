"""Hostile bodies get a 400 with a JSON error, never a 500 (issue: hardening)."""

from __future__ import annotations

import pytest

URL = "/api/recommendations"


@pytest.mark.parametrize(
    "body",
    [b"[" * 5000, b'{"a":' * 5000, b'{"cartVariantIds": ' + b"[" * 200 + b"]" * 200 + b"}"],
    ids=["arrays", "objects", "nested-ids"],
)
def test_deeply_nested_json_is_a_bad_request(client, small_shop, auth_headers, body):
    headers = {**auth_headers(small_shop), "Content-Type": "application/json"}
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert "levels deep" in response.json["error"]["message"]


@pytest.mark.parametrize("value", ["²", "٣", "1²", "9223372036854775808", "0", 0, 2**63, True, 1.5])
def test_ids_that_are_not_bigint_digits_are_refused(client, small_shop, auth_headers, value):
    response = client.post(URL, json={"cartVariantIds": [value]}, headers=auth_headers(small_shop))
    assert response.status_code == 400
    assert response.json["error"]["details"]["index"] == 0


def test_the_largest_bigint_id_is_accepted(client, small_shop, auth_headers):
    body = {"cartVariantIds": [str(2**63 - 1)]}
    response = client.post(URL, json=body, headers=auth_headers(small_shop))
    assert response.status_code == 200

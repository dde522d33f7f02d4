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


@pytest.mark.parametrize(
    "value",
    ["²", "٣", "1²", "9223372036854775808", "1000000000000000000", "0", "007", " 7", 0, 2**63, True, 1.5],
)
def test_ids_that_are_not_bigint_digits_are_refused(client, small_shop, auth_headers, value):
    response = client.post(URL, json={"cartVariantIds": [value]}, headers=auth_headers(small_shop))
    assert response.status_code == 400
    assert response.json["error"]["details"]["index"] == 0


def test_the_largest_id_and_integral_numbers_are_accepted(client, small_shop, auth_headers):
    body = {"cartVariantIds": [str(10**18 - 1), 10**18 - 1, 1002.0], "limit": 2.0}
    response = client.post(URL, json=body, headers=auth_headers(small_shop))
    assert response.status_code == 200


@pytest.mark.parametrize("limit", [0, 11, 2.5, "2", True, [2]])
def test_bad_limits_are_refused(client, small_shop, auth_headers, limit):
    body = {"cartVariantIds": ["1002"], "limit": limit}
    response = client.post(URL, json=body, headers=auth_headers(small_shop))
    assert response.status_code == 400


def test_a_null_limit_means_the_shops_setting(client, small_shop, auth_headers):
    body = {"cartVariantIds": ["1002"], "limit": None}
    response = client.post(URL, json=body, headers=auth_headers(small_shop))
    assert response.status_code == 200 and len(response.json["recommendations"]) == 2


@pytest.mark.parametrize(
    "body", [b'{"cartVariantIds": [NaN]}', b'{"cartVariantIds": ["1"], "limit": Infinity}']
)
def test_non_json_constants_are_refused(client, small_shop, auth_headers, body):
    headers = {**auth_headers(small_shop), "Content-Type": "application/json"}
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 400 and "not valid JSON" in response.json["error"]["message"]

"""The input boundary: ids and JSON bodies are accepted exactly as documented."""

from __future__ import annotations

import pytest

from posai_app.errors import BadRequest
from posai_app.inputs import MAX_ID, MAX_JSON_DEPTH, check_json_object, json_depth, parse_id, parse_json


@pytest.mark.parametrize(
    "value, expected",
    [
        (1, 1),
        ("42", 42),
        (str(MAX_ID), MAX_ID),
        (" 42 ", None),
        ("042", None),
        (5.0, 5),
        (5.5, None),
        (float("nan"), None),
        (float("inf"), None),
        ("gid://shopify/ProductVariant/7", 7),
        (0, None),
        ("0", None),
        (-5, None),
        (MAX_ID + 1, None),
        (str(MAX_ID + 1), None),
        ("9" * 40, None),
        ("²", None),
        ("٣", None),
        ("1²", None),
        ("12.0", None),
        ("1e3", None),
        ("", None),
        (True, None),
        (None, None),
        (1.0, 1),
        (["1"], None),
        ("gid://shopify/ProductVariant/x", None),
    ],
)
def test_parse_id(value, expected):
    assert parse_id(value) == expected


def test_parse_id_checks_the_gid_type():
    assert parse_id("gid://shopify/ProductVariant/7", "ProductVariant") == 7
    assert parse_id("gid://shopify/Product/7", "ProductVariant") is None
    assert parse_id("gid://shopify/Product/7") == 7


@pytest.mark.parametrize(
    "raw, depth",
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[[", "]]]]", "\\"[[["]', 1),
        (b"[" * 10 + b"]" * 10, 10),
    ],
)
def test_json_depth(raw, depth):
    assert json_depth(raw) == depth


@pytest.mark.parametrize(
    "raw", [b"[" * 5000, b'{"a":' * 5000, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)]
)
def test_deep_json_is_a_bad_request(raw):
    with pytest.raises(BadRequest, match="levels deep"):
        parse_json(raw)


def test_json_at_the_depth_limit_parses():
    raw = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(raw) is not None


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b'{"a": 1,}', b"NaN-ish"])
def test_invalid_json_is_a_bad_request(raw):
    with pytest.raises(BadRequest, match="not valid JSON"):
        parse_json(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12),
        ("0", 0),
        (None, None),
        ("", None),
        ("٣", None),
        ("1_000", None),
        ("1e3", None),
        (" 7", None),
        ("-1", None),
        ("9" * 19, None),
    ],
)
def test_query_integers_are_ascii_digits_within_bounds(text, expected):
    from posai_app.inputs import query_int

    assert query_int(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1764617040.25", 1764617040.25),
        ("3", 3.0),
        ("nan", None),
        ("inf", None),
        ("-inf", None),
        ("1e9", None),
        ("١٢", None),
        ("-5", None),
        ("", None),
    ],
)
def test_query_decimals_refuse_nan_infinity_and_foreign_digits(text, expected):
    from posai_app.inputs import query_float

    assert query_float(text) == expected


def test_status_poll_with_hostile_query_numbers_is_not_an_error(client, shop, auth_headers):
    for query in ("train_after=%D9%A3&train_since=nan", "train_since=inf&sync_since=-inf", "train_after=1_0"):
        response = client.get(f"/app/status?{query}", headers={**auth_headers(shop), "HX-Request": "true"})
        assert response.status_code == 200, query


def _parse_json_verdict(raw: bytes) -> str:
    try:
        value = parse_json(raw)
    except BadRequest as exc:
        return "levels deep" if "levels deep" in exc.message else "invalid"
    return "object" if isinstance(value, dict) else "not an object"


def _check_verdict(raw: bytes) -> str:
    try:
        check_json_object(raw)
    except BadRequest as exc:
        message = exc.message
        return (
            "levels deep"
            if "levels deep" in message
            else "not an object"
            if "object" in message
            else "invalid"
        )
    return "object"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": 1}',
        b'{"id": 123456789012345678901234567890}',  # orjson makes a float of it; json an int
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b'{"a": 1e400}',  # orjson refuses; json reads inf
        b'{"a": "\\ud800"}',  # a lone surrogate: orjson refuses, json accepts
        b'\xef\xbb\xbf{"a": 1}',  # a byte order mark
        b'{"a": 1, "a": 2}',
        b"[1, 2]",
        b'"text"',
        b"",
        b"{",
        b'{"a": [' + b"[" * (MAX_JSON_DEPTH - 2) + b"]" * (MAX_JSON_DEPTH - 2) + b"]}",
        b'{"a": [' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"]}",
        b'{"a": "' + b"[" * 500 + b'"}',  # brackets in a string are not nesting
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # past orjson's own limit (1024)
        b'{"a": [' + b"{}, " * 200 + b"[]]}",  # many brackets, shallow
    ],
)
def test_check_json_object_decides_as_parse_json(raw):
    """The webhook endpoint's fast check (orjson) accepts and refuses exactly what the job's
    parse_json would, for the reasons it would."""
    assert _check_verdict(raw) == _parse_json_verdict(raw)

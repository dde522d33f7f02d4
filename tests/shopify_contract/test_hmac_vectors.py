"""Our HMAC checks agree with Shopify's own Node library on vectors it signed and judged.

hmac_vectors.mjs (run with node against the installed @shopify/shopify-api) signs OAuth
callback / install-link queries and webhook bodies with the library's own functions and
records whether the library's own validators accept each one, tampered cases included.
Nothing here computes an expected HMAC: the library's verdict is the expected answer.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from flask import Flask, request

from posai_app.auth.oauth import InvalidHmac, verify_query_hmac
from posai_app.webhooks.verify import verify_hmac
from tests.fakeshopify.oauth import FakeShopifyOAuth
from tests.helpers import TEST_API_KEY, TEST_API_SECRET, TEST_API_SECRET_OLD
from tests.shopify_contract import artifacts

ONLY_CURRENT = {"SHOPIFY_API_SECRET": TEST_API_SECRET, "SHOPIFY_API_SECRET_OLD": None}


@pytest.fixture(scope="module")
def vectors() -> dict:
    return artifacts.run_shopify_api_script("hmac_vectors.mjs", TEST_API_SECRET)


def _we_accept(query: str, config: dict) -> bool:
    # Parsed exactly as a request to /auth/callback is: werkzeug's request.args.
    with Flask(__name__).test_request_context(f"/auth/callback?{query}"):
        try:
            verify_query_hmac(request.args, config)
        except InvalidHmac:
            return False
        return True


def test_the_vectors_cover_accepted_and_refused_queries_and_webhooks(vectors):
    assert vectors["library"] == "@shopify/shopify-api 15.0.0"
    for kind in ("queries", "webhooks"):
        verdicts = {v["valid"] for v in vectors[kind]}
        assert verdicts == {True, False}, f"{kind}: the library should accept some and refuse some"
    [callback] = [v for v in vectors["queries"] if v["name"] == "code-grant callback, host ending in ="]
    assert "%3D&" in callback["query"] and callback["valid"]


def test_query_hmac_accepts_exactly_what_shopifys_library_accepts(vectors):
    disagreements = [
        (v["name"], "library accepts" if v["valid"] else "library refuses")
        for v in vectors["queries"]
        if _we_accept(v["query"], ONLY_CURRENT) != v["valid"]
    ]
    assert disagreements == []


def test_queries_signed_with_the_old_secret_are_accepted_during_rotation():
    signed_with_old = artifacts.run_shopify_api_script("hmac_vectors.mjs", TEST_API_SECRET_OLD)
    rotating = {"SHOPIFY_API_SECRET": TEST_API_SECRET, "SHOPIFY_API_SECRET_OLD": TEST_API_SECRET_OLD}
    accepted = [v for v in signed_with_old["queries"] if v["valid"]]
    assert accepted and all(_we_accept(v["query"], rotating) for v in accepted)
    assert not any(_we_accept(v["query"], ONLY_CURRENT) for v in accepted)


def test_webhook_hmac_accepts_exactly_what_shopifys_library_accepts(vectors):
    disagreements = [
        v["name"]
        for v in vectors["webhooks"]
        if verify_hmac(v["body"].encode(), v["hmac"], [TEST_API_SECRET]) != v["valid"]
    ]
    assert disagreements == []


def test_the_fake_oauth_server_signs_callbacks_as_shopify_does(vectors):
    fake = FakeShopifyOAuth(api_key=TEST_API_KEY, api_secret=TEST_API_SECRET)
    checked = 0
    for vector in vectors["queries"]:
        pairs = parse_qsl(vector["query"], keep_blank_values=True)
        keys = [k for k, _ in pairs]
        if not vector["valid"] or len(keys) != len(set(keys)):
            continue  # the fake only ever sends valid callbacks without repeated keys
        params = dict(pairs)
        assert fake.sign(params) == params["hmac"], vector["name"]
        checked += 1
    assert checked >= 5

"""The Admin API client against the fake: throttling, retries, errors, token refresh."""

from __future__ import annotations

import logging

import pytest

from posai_app.shopify import bulk, queries
from posai_app.shopify.client import (
    AdminClient,
    ShopifyAuthError,
    ShopifyGraphQLError,
    ShopifyTransientError,
    ShopifyUserError,
    raise_for_user_errors,
)
from posai_app.shopify.gid import from_gid, gid_resource, to_gid
from posai_app.shopify.version import API_VERSION
from tests.fakeshopify import dataset

DOMAIN = "client-shop.myshopify.com"
TOKEN = "shpat_client_token"


@pytest.fixture
def client(fake):
    products, orders = dataset.small_history(30)
    fake.add_shop(DOMAIN, TOKEN, products=products, orders=orders)
    with AdminClient(DOMAIN, TOKEN, url=admin_url(fake), backoff_base=0.01, max_attempts=4) as c:
        yield c


def admin_url(fake):
    return f"{fake.base_url}/{DOMAIN}/admin/api/{API_VERSION}/graphql.json"


def orders_page(client, first=5, after=None):
    variables = {"first": first, "childFirst": 2, "after": after}
    return client.execute(queries.ORDERS_PAGE, variables, operation="OrdersPage")["orders"]


def test_gid_round_trip():
    assert to_gid("ProductVariant", 41) == "gid://shopify/ProductVariant/41"
    assert from_gid("gid://shopify/LineItem/9?x=1") == 9 and from_gid(12) == 12 and from_gid(None) is None
    assert gid_resource("gid://shopify/Order/5") == "Order"
    with pytest.raises(ValueError):
        from_gid("gid://shopify/Order/abc")


def test_pages_carry_gids_and_string_prices(client):
    page = orders_page(client)
    node = page["edges"][0]["node"]
    assert node["id"].startswith("gid://shopify/Order/")
    item = node["lineItems"]["edges"][0]["node"]
    assert isinstance(item["originalUnitPriceSet"]["shopMoney"]["amount"], str)
    assert page["pageInfo"]["hasNextPage"] is True


def test_no_request_is_sent_while_the_bucket_is_empty(fake, client):
    fake.bucket_size, fake.restore_rate = 100.0, 200.0
    fake.drain_bucket(DOMAIN, to=100.0)
    after = None
    for _ in range(8):  # each page costs 2 + 3 × (1 + 2 + 2 × 5) = 41 of a 100-point bucket: pace
        page = orders_page(client, first=3, after=after)
        after = page["pageInfo"]["endCursor"]
    assert fake.throttled == 0
    assert client.throttle_wait_seconds > 0


def test_throttled_answer_is_waited_out_and_retried(fake, client):
    orders_page(client, first=1)  # learn the cost
    fake.restore_rate = 50.0
    fake.drain_bucket(DOMAIN, to=0.0)  # another process of ours emptied the bucket
    client._bucket = None  # ... without this client knowing
    page = orders_page(client, first=1)
    assert page["edges"]
    assert fake.throttled == 1
    assert (
        client.throttle_wait_seconds >= 0.2
    )  # (2 + 1 × 13 points needed) / (50 per second), less the refill meanwhile


def test_429_retry_after_is_honoured(fake, client, monkeypatch):
    slept = []
    monkeypatch.setattr(client, "_sleep", slept.append)
    fake.rate_limit_next(2, retry_after="2")
    assert orders_page(client)["edges"]
    assert slept[:2] == [2.0, 2.0]


def test_5xx_and_dropped_connections_back_off_then_succeed(fake, client):
    fake.fail_next(2, status=502)
    fake.drop_next(1)
    assert orders_page(client)["edges"]


def test_persistent_5xx_gives_up_with_a_retriable_error(fake, client):
    fake.fail_next(10, status=503)
    with pytest.raises(ShopifyTransientError) as info:
        orders_page(client)
    assert info.value.retriable and "503" in str(info.value)


def test_graphql_errors_and_user_errors_raise_clearly(client):
    with pytest.raises(ShopifyGraphQLError, match="Cannot query field 'bogus' on type 'Shop'"):
        client.execute("query Nope { shop { bogus } }", operation="Nope")
    with pytest.raises(ShopifyUserError, match="query: Bad root"):
        raise_for_user_errors({"userErrors": [{"field": ["query"], "message": "Bad root"}]}, "bulk")


def test_rejected_token_is_refreshed_once(fake):
    fake.add_shop(DOMAIN, TOKEN)
    url = admin_url(fake)
    refreshed = []

    def refresh(stale):
        refreshed.append(stale)
        return TOKEN

    with AdminClient(DOMAIN, "expired", url=url, token_refresher=refresh) as c:
        bulk.get_bulk_operation(c, "gid://shopify/BulkOperation/1")
    assert refreshed == ["expired"]
    with AdminClient(DOMAIN, "revoked", url=url) as c, pytest.raises(ShopifyAuthError):
        bulk.get_bulk_operation(c, "gid://shopify/BulkOperation/1")


def test_second_bulk_query_waits_for_the_running_one(fake, client):
    fake.bulk_polls = 2
    first = bulk.start_bulk_query(client, queries.bulk_orders())
    waits = []

    def sleep(seconds):  # meanwhile the first operation is polled to its end
        waits.append(seconds)
        bulk.get_bulk_operation(client, first["id"])

    second = bulk.start_bulk_query(client, queries.BULK_PRODUCTS, poll_interval=0.01, sleep=sleep)
    assert first["id"] != second["id"]
    assert bulk.get_bulk_operation(client, first["id"])["status"] == "COMPLETED"
    assert waits == [0.01, 0.015, 0.0225]  # busy until the third poll completed the first


def test_busy_is_told_by_the_user_error_code_not_its_message(fake, client):
    fake.bulk_concurrency = 2  # 2026-01+: several at once, then LIMIT_REACHED ("limit reached")
    running = [bulk.start_bulk_query(client, q) for q in (queries.bulk_orders(), queries.BULK_PRODUCTS)]
    with pytest.raises(ShopifyUserError) as info:
        bulk.start_bulk_query(client, queries.bulk_orders(), wait_for_other=0.0)
    assert [e["code"] for e in info.value.user_errors] == ["LIMIT_REACHED"]

    def sleep(seconds):  # while we wait, both running operations finish
        for op in running:
            bulk.wait_for_bulk_operation(client, op["id"], sleep=lambda s: None)

    started = bulk.start_bulk_query(client, queries.bulk_orders(), sleep=sleep)
    assert started["id"] not in {op["id"] for op in running}


def test_an_invalid_bulk_query_is_not_retried(client):
    slept = []
    with pytest.raises(ShopifyUserError) as info:
        bulk.start_bulk_query(client, "{ orders { edges { node { bogus } } } }", sleep=slept.append)
    assert [e["code"] for e in info.value.user_errors] == ["INVALID"] and slept == []


def test_a_query_over_the_cost_limit_is_refused_as_shopify_does(fake, client):
    with pytest.raises(ShopifyGraphQLError) as info:
        orders_page(client, first=100)  # 2 + 100 × (3 + 2 + 2 × 9) = 2,302 points
    assert info.value.codes == {"MAX_COST_EXCEEDED"}
    assert info.value.errors[0]["extensions"]["cost"] == 2302
    assert "Query cost is 2302, which exceeds the single query max cost limit (1000)" in str(info.value)
    assert fake.refused == 1


def test_another_served_version_is_logged_once(fake, client, caplog):
    fake.served_version = "2026-01"
    with caplog.at_level(logging.WARNING, logger="posai_app.shopify.client"):
        orders_page(client)
        orders_page(client)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"asked for Admin API {API_VERSION}, Shopify answered with 2026-01" in warnings[0]
    assert client.served_version == "2026-01"


def test_the_pinned_version_answering_logs_nothing(client, caplog):
    with caplog.at_level(logging.WARNING, logger="posai_app.shopify.client"):
        orders_page(client)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert client.served_version == API_VERSION

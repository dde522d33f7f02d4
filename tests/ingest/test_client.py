"""The Admin API client against the fake: throttling, retries, errors, token refresh."""

from __future__ import annotations

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
from tests.fakeshopify import dataset

DOMAIN = "client-shop.myshopify.com"
TOKEN = "shpat_client_token"


@pytest.fixture
def client(fake):
    products, orders = dataset.small_history(30)
    fake.add_shop(DOMAIN, TOKEN, products=products, orders=orders)
    url = f"{fake.base_url}/{DOMAIN}/admin/api/2025-10/graphql.json"
    with AdminClient(DOMAIN, TOKEN, url=url, backoff_base=0.01, max_attempts=4) as c:
        yield c


def orders_page(client, first=5, after=None):
    return client.execute(queries.ORDERS_PAGE, {"first": first, "after": after}, operation="OrdersPage")[
        "orders"
    ]


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
    fake.bucket_size, fake.restore_rate = 60.0, 200.0
    fake.drain_bucket(DOMAIN, to=60.0)
    after = None
    for _ in range(8):  # each page costs 22 of a 60-point bucket: the client must pace itself
        page = orders_page(client, first=10, after=after)
        after = page["pageInfo"]["endCursor"]
    assert fake.throttled == 0
    assert client.throttle_wait_seconds > 0


def test_throttled_answer_is_waited_out_and_retried(fake, client):
    orders_page(client)  # learn the cost
    fake.restore_rate = 50.0
    fake.drain_bucket(DOMAIN, to=0.0)  # another process of ours emptied the bucket
    client._bucket = None  # ... without this client knowing
    page = orders_page(client)
    assert page["edges"]
    assert fake.throttled == 1
    assert client.throttle_wait_seconds >= 0.2  # (12 points needed) / (50 per second)


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
    with pytest.raises(ShopifyGraphQLError, match="Unknown operation"):
        client.execute("query Nope { shop { id } }", operation="Nope")
    with pytest.raises(ShopifyUserError, match="query: Bad root"):
        raise_for_user_errors({"userErrors": [{"field": ["query"], "message": "Bad root"}]}, "bulk")


def test_rejected_token_is_refreshed_once(fake):
    fake.add_shop(DOMAIN, TOKEN)
    url = f"{fake.base_url}/{DOMAIN}/admin/api/2025-10/graphql.json"
    refreshed = []

    def refresh(stale):
        refreshed.append(stale)
        return TOKEN

    with AdminClient(DOMAIN, "expired", url=url, token_refresher=refresh) as c:
        c.execute(queries.CURRENT_BULK_OPERATION, operation="CurrentBulkOperation")
    assert refreshed == ["expired"]
    with AdminClient(DOMAIN, "revoked", url=url) as c, pytest.raises(ShopifyAuthError):
        c.execute(queries.CURRENT_BULK_OPERATION, operation="CurrentBulkOperation")


def test_second_bulk_query_waits_for_the_running_one(fake, client):
    fake.bulk_polls = 2
    first = bulk.start_bulk_query(client, queries.bulk_orders())
    second = bulk.start_bulk_query(client, queries.BULK_PRODUCTS, poll_interval=0.01)
    assert first["id"] != second["id"]
    assert bulk.get_bulk_operation(client, first["id"])["status"] == "COMPLETED"

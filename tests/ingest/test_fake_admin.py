"""The fake Admin API answers as Shopify's schema allows, and writes bulk files in both forms."""

from __future__ import annotations

import json

import pytest

from posai_app.shopify import bulk, queries
from posai_app.shopify.client import AdminClient, ShopifyGraphQLError
from posai_app.shopify.version import API_VERSION
from tests.fakeshopify import dataset

DOMAIN = "fake-admin.myshopify.com"
TOKEN = "shpat_fake_admin"


@pytest.fixture
def client(fake):
    products, orders = dataset.small_history(120)
    fake.add_shop(DOMAIN, TOKEN, products=products, orders=orders)
    url = f"{fake.base_url}/{DOMAIN}/admin/api/{API_VERSION}/graphql.json"
    with AdminClient(DOMAIN, TOKEN, url=url, backoff_base=0.01) as c:
        yield c


def _bulk_file(fake, client, inner, *, group=None):
    mutation = queries.RUN_BULK_QUERY
    if group is not None:
        mutation = mutation.replace("(query: $query)", f"(query: $query, groupObjects: {str(group).lower()})")
    data = client.execute(mutation, {"query": inner}, operation="BulkOperationRunQuery")
    operation = data["bulkOperationRunQuery"]["bulkOperation"]
    done = bulk.wait_for_bulk_operation(client, operation["id"], sleep=lambda s: None)
    return [json.loads(line) for line in client.stream_lines(done["url"]) if line]


def _positions(objects):
    parents = {o["id"]: n for n, o in enumerate(objects) if "__parentId" not in o}
    return [(parents[o["__parentId"]], n) for n, o in enumerate(objects) if "__parentId" in o]


def test_ungrouped_files_put_children_anywhere_after_their_parent(fake, client):
    grouped = _bulk_file(fake, client, queries.bulk_orders(), group=True)
    fake.ungrouped = True  # the pinned version's default when groupObjects is not passed
    assert fake.grouped is False
    ungrouped = _bulk_file(fake, client, queries.bulk_orders())
    assert sorted(map(json.dumps, ungrouped)) == sorted(map(json.dumps, grouped))
    spans = _positions(ungrouped)
    assert all(parent < child for parent, child in spans)
    parents_between = sorted(sum(1 for o in ungrouped[p:c] if "__parentId" not in o) for p, c in spans)
    assert parents_between[-1] > 64  # beyond yesterday's reader's window
    assert ungrouped[-1].get("__parentId")  # some children only at the end
    grouped_spans = _positions(grouped)
    assert all(sum(1 for o in grouped[p:c] if "__parentId" not in o) == 1 for p, c in grouped_spans)


def test_an_explicit_group_objects_wins_over_the_fakes_default(fake, client):
    fake.grouped = False
    lines = _bulk_file(fake, client, queries.bulk_orders(), group=True)
    assert all(sum(1 for o in lines[p:c] if "__parentId" not in o) == 1 for p, c in _positions(lines))


def test_fields_the_schema_lacks_fail_validation_as_on_shopify(client):
    with pytest.raises(ShopifyGraphQLError, match="Cannot query field 'inventoryManagement'"):
        client.execute(
            "query V { products(first: 1) { edges { node { variants(first: 1) "
            "{ edges { node { inventoryManagement } } } } } } }",
            operation="V",
        )


def test_page_sizes_above_shopifys_maximum_are_refused(fake, client):
    with pytest.raises(ShopifyGraphQLError, match="maximum page size is 250"):
        client.execute(
            queries.COMPLEMENTARY_PRODUCTS_PAGE,
            {**queries.complementary_products_variables(None), "first": 251},  # 504 points: under the limit
            operation="ComplementaryProductsPage",
        )


def test_what_the_answer_did_not_use_is_refunded(fake, client):
    fake.restore_rate = 0.0
    variables = queries.orders_page_variables(None, None)
    page = client.execute(queries.ORDERS_PAGE, variables, operation="OrdersPage")["orders"]
    lines = sum(len(e["node"]["lineItems"]["edges"]) for e in page["edges"])
    sent = fake.requests[-1]
    assert sent["cost"] == 952  # charged up front: 2 + 10 × (3 + 2 + 10 × 9)
    # Nothing here has a retail location, attributes or discounts: null and [] cost nothing.
    assert sent["actual"] == 2 + 10 * (1 + 2) + lines * 5 < 952
    assert fake.shops[DOMAIN].bucket_available == pytest.approx(fake.bucket_size - sent["actual"], abs=1)

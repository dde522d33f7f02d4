"""POST /api/recommendations: contract, filters, fallback, bad input, isolation, CORS."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import Shop
from tests.api.conftest import add_catalog, add_index, add_neighbors

URL = "/api/recommendations"


def post(client, headers, body, **kw):
    return client.post(URL, json=body, headers=headers, **kw)


def ids(response):
    return [r["variantId"] for r in response.json["recommendations"]]


def test_answers_the_original_contract(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002"]})
    assert response.status_code == 200
    assert response.json["metric"] == "cosine"
    first = response.json["recommendations"][0]
    assert first == {
        "variantId": "1003",
        "score": 2.0,
        "productId": "3",
        "productTitle": "Tea towel",
        "variantTitle": "Default Title",
        "price": "4.50",
        "inventoryQuantity": 9,
        "source": "model",
        "reason": "Bought with Coaster in 3 orders",  # the seeded co-count of 1002 -> 1003
    }
    assert len(response.json["recommendations"]) == 2  # the shop's default limit


def test_never_offers_what_cannot_be_sold(client, small_shop, auth_headers):
    # 1001's neighbours, best first: sold-out, gift card, archived, excluded, same product, then sellable.
    with client.application.app_context():
        shop = db.session.get(Shop, small_shop.id)
        shop.settings = {"excluded_product_ids": [9]}
        db.session.commit()
    response = post(client, auth_headers(small_shop), {"cartVariantIds": [1001], "limit": 3})
    assert ids(response) == ["1002", "1003", "1005"]  # backorderable (policy continue) stays eligible


def test_untracked_inventory_stays_eligible_and_its_quantity_is_null(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002"], "limit": 3})
    quantities = {r["variantId"]: r["inventoryQuantity"] for r in response.json["recommendations"]}
    assert quantities == {"1003": 9, "1001": 5, "1010": None}  # 1010 is untracked: null, never 0


def test_cart_items_are_never_returned_and_scores_sum(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1002", "1003"], "limit": 5})
    got = ids(response)
    assert "1002" not in got and "1003" not in got
    assert got[0] == "1001"  # only 1002 points at 1001


def test_fills_from_bestsellers_and_says_so(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1003"], "limit": 2})
    recs = response.json["recommendations"]
    assert [(r["variantId"], r["source"]) for r in recs] == [("1002", "model"), ("1011", "bestsellers")]


def test_bestseller_fallback_can_be_turned_off(client, small_shop, auth_headers):
    with client.application.app_context():
        db.session.get(Shop, small_shop.id).settings = {"bestseller_fallback": False}
        db.session.commit()
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1003"], "limit": 2})
    assert ids(response) == ["1002"]


def test_unknown_cart_gets_bestsellers_and_empty_when_nothing_qualifies(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["999999"]})
    assert ids(response)[0] == "1011"
    with client.application.app_context():
        db.session.get(Shop, small_shop.id).settings = {"bestseller_fallback": False}
        db.session.commit()
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["999999"]})
    assert response.status_code == 200 and response.json["recommendations"] == []


def test_shop_setting_sets_the_default_limit(client, small_shop, auth_headers):
    with client.application.app_context():
        db.session.get(Shop, small_shop.id).settings = {"recommendation_limit": 1}
        db.session.commit()
    assert len(ids(post(client, auth_headers(small_shop), {"cartVariantIds": ["1001"]}))) == 1


def test_accepts_integers_strings_and_gids(client, small_shop, auth_headers):
    for cart in ([1002], ["1002"], ["gid://shopify/ProductVariant/1002"]):
        assert ids(post(client, auth_headers(small_shop), {"cartVariantIds": cart}))[0] == "1003"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "required"),
        ({"cartVariantIds": "1001"}, "must be a list"),
        ({"cartVariantIds": ["abc"]}, "numeric"),
        ({"cartVariantIds": [True]}, "numeric"),
        ({"cartVariantIds": [-4]}, "numeric"),
        ({"cartVariantIds": [{"id": 1}]}, "numeric"),
        ({"cartVariantIds": [str(i) for i in range(1, 102)]}, "at most 100"),
        ({"cartVariantIds": ["1001"], "limit": 0}, "limit"),
        ({"cartVariantIds": ["1001"], "limit": 11}, "limit"),
        ({"cartVariantIds": ["1001"], "limit": "2"}, "limit"),
        ({"cartVariantIds": ["1001"], "limit": True}, "limit"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_input_is_a_clear_400(client, small_shop, auth_headers, body, fragment):
    response = post(client, auth_headers(small_shop), body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "bad_request"
    assert fragment in response.json["error"]["message"]


def test_malformed_json_is_400(client, small_shop, auth_headers):
    response = client.post(
        URL, data=b"{not json", headers={**auth_headers(small_shop), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json["error"]["message"] == "Body is not valid JSON"


def test_oversized_body_is_413(client, small_shop, auth_headers):
    body = b'{"cartVariantIds": ["1"], "pad": "' + b"x" * 70_000 + b'"}'
    response = client.post(
        URL, data=body, headers={**auth_headers(small_shop), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_wrong_method_is_json_405(client, small_shop, auth_headers):
    response = client.get(URL, headers={**auth_headers(small_shop), "Accept": "application/json"})
    assert response.status_code == 405
    assert "error" in response.json


def test_missing_token_is_401_with_retry_header_and_cors(client, small_shop):
    response = client.post(URL, json={"cartVariantIds": ["1001"]})
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "error" in response.json


def test_preflight_is_204_with_cors_headers(client):
    response = client.options(
        URL, headers={"Origin": "https://cdn.shopify.com", "Access-Control-Request-Method": "POST"}
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert response.headers["Access-Control-Max-Age"] == "7200"


def test_real_responses_carry_allow_origin(client, small_shop, auth_headers):
    response = post(client, auth_headers(small_shop), {"cartVariantIds": ["1001"]})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_a_token_for_one_shop_never_sees_another_shops_variants(app, client, shop, other_shop, auth_headers):
    with app.app_context():
        add_catalog(shop.id, prefix="A ")
        add_index(shop.id)
        add_catalog(other_shop.id, prefix="B ")  # same Shopify ids, no index of its own
        db.session.commit()
    mine = post(client, auth_headers(shop), {"cartVariantIds": ["1002"], "limit": 3}).json
    theirs = post(client, auth_headers(other_shop), {"cartVariantIds": ["1002"], "limit": 3}).json
    assert all(r["productTitle"].startswith("A ") for r in mine["recommendations"])
    assert theirs["recommendations"] == []  # untrained, no bestsellers yet
    assert theirs["metric"] == "popularity"


def test_index_swap_during_concurrent_requests_never_errors_or_empties(app, small_shop, auth_headers):
    from posai_app.models import RecommenderConfig, VariantNeighbor

    headers = auth_headers(small_shop)
    failures: list = []
    stop = threading.Event()

    def hammer():
        with app.test_client() as c:
            while not stop.is_set():
                r = c.post(URL, json={"cartVariantIds": ["1002"]}, headers=headers)
                if r.status_code != 200 or not r.json["recommendations"]:
                    failures.append((r.status_code, r.get_data(as_text=True)[:200]))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for version in range(2, 12):  # publish new index versions as training does: one transaction
            with app.app_context():
                db.session.execute(sa.delete(VariantNeighbor).where(VariantNeighbor.shop_id == small_shop.id))
                add_neighbors(small_shop.id, score_bump=version)
                cfg = db.session.scalar(
                    sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == small_shop.id)
                )
                cfg.model_version = version
                db.session.commit()
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []

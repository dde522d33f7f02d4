"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and the app's real responses match it:
status codes, headers (CORS, retry-on-401, Allow) and bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.deploy.packaging import ROOT

DOC_URI = "urn:posai:openapi"
API = "/api/recommendations"
HTTP_METHODS = {"get", "post", "put", "patch", "delete", "options", "head"}


@cache
def openapi() -> dict[str, Any]:
    with open(ROOT / "docs" / "openapi.yaml") as fh:
        return yaml.safe_load(fh)


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(openapi(), default_specification=DRAFT202012)
    return Registry().with_resource(DOC_URI, resource)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _follow(node: dict, pointer: str) -> tuple[dict, str]:
    """Follow local $refs (Response and Header objects); return the node and its JSON pointer."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        pointer = ref[1:]
        node = openapi()
        for token in pointer.split("/")[1:]:
            node = node[token.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def _validate(instance: Any, schema_pointer: str) -> None:
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"{DOC_URI}#{schema_pointer}"},
        registry=_registry(),
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def assert_matches_document(path: str, method: str, response) -> None:
    """The response's status, headers and body are the ones the document gives for this operation."""
    operation = openapi()["paths"][path][method.lower()]
    status = str(response.status_code)
    assert status in operation["responses"], (
        f"{method} {path} answered {status}, which the document does not list: {response.get_data(True)}"
    )
    base = f"/paths/{_escape(path)}/{method.lower()}/responses/{status}"
    spec, pointer = _follow(operation["responses"][status], base)
    for name, header in spec.get("headers", {}).items():
        header, header_pointer = _follow(header, f"{pointer}/headers/{_escape(name)}")
        value = response.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{method} {path} {status}: header {name} missing"
        if value is not None:
            _validate(value, f"{header_pointer}/schema")
    content = spec.get("content")
    if not content:
        assert response.get_data() == b"", f"{method} {path} {status} must have no body"
        return
    assert response.mimetype in content, f"{method} {path} {status}: {response.mimetype}"
    _validate(response.get_json(), f"{pointer}/content/{_escape(response.mimetype)}/schema")


# ---- the document itself --------------------------------------------------------------------


def test_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate

    document = openapi()
    assert document["openapi"].startswith("3.1")
    validate(document)


def _examples():
    for path, item in openapi()["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            base = f"/paths/{_escape(path)}/{method}"
            bodies = [("requestBody", operation.get("requestBody", {}))]
            bodies += [(f"responses/{code}", r) for code, r in operation["responses"].items()]
            for where, body in bodies:
                body, pointer = _follow(body, f"{base}/{where}")
                for media, content in body.get("content", {}).items():
                    schema = f"{pointer}/content/{_escape(media)}/schema"
                    if "example" in content:
                        yield f"{method} {path} {where}", content["example"], schema
                    for name, example in content.get("examples", {}).items():
                        yield f"{method} {path} {where} {name}", example["value"], schema


@pytest.mark.parametrize(("where", "example", "schema"), list(_examples()), ids=lambda v: str(v)[:60])
def test_documented_examples_match_their_schemas(where, example, schema):
    _validate(example, schema)


def test_every_documented_operation_is_a_route_of_the_app(app):
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        routes.setdefault(rule.rule, set()).update(m.lower() for m in rule.methods)
    for path, item in openapi()["paths"].items():
        assert path in routes, f"{path} is documented but the app has no such route"
        documented = {m for m in item if m in HTTP_METHODS}
        assert documented <= routes[path], f"{path}: {documented - routes[path]} not served"
    undocumented = {r for r in routes if r.startswith("/api/")} - set(openapi()["paths"])
    assert not undocumented, f"/api/ routes missing from docs/openapi.yaml: {sorted(undocumented)}"


# ---- operations endpoints -----------------------------------------------------------------------


def test_healthz_matches_the_document(client):
    assert_matches_document("/healthz", "GET", client.get("/healthz"))


def test_readyz_matches_the_document(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert_matches_document("/readyz", "GET", response)


def test_readyz_unavailable_matches_the_document(make_app):
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = broken.test_client().get("/readyz")
    assert response.status_code == 503
    assert_matches_document("/readyz", "GET", response)


# ---- POST /api/recommendations against a small trained shop -----------------------------------

# variant_id -> (product_id, product title, variant title, price, inventory)
CATALOG = {
    1001: (501, "Red Retrospot Jumbo Bag", None, "2.08", 40),
    1002: (502, "Lunch Bag Red Retrospot", "Default Title", "1.65", 12),
    1003: (503, "Jam Making Set", "Printed", "4.25", 7),
    1004: (504, "Paper Chain Kit", "50's Christmas", "2.95", 30),
    1005: (505, "White Hanging Heart T-Light Holder", None, "2.55", 120),
}
NEIGHBORS = [  # (source, target, co_count, score)
    (1001, 1002, 9, 0.81),
    (1001, 1003, 4, 0.42),
    (1002, 1001, 9, 0.81),
    (1002, 1004, 3, 0.33),
    (1003, 1001, 4, 0.42),
]


@pytest.fixture
def trained_shop(app, shop):
    """A shop with a catalog, a neighbour index, bestseller stats and a trained config."""
    from posai_app.extensions import db
    from posai_app.models import ProductVariant, RecommenderConfig
    from tests.serving.seed import seed_index

    with app.app_context():
        for variant_id, (product_id, title, variant_title, price, quantity) in CATALOG.items():
            db.session.add(
                ProductVariant(
                    shop_id=shop.id,
                    variant_id=variant_id,
                    product_id=product_id,
                    inventory_item_id=variant_id + 70000,
                    product_title=title,
                    variant_title=variant_title,
                    price=Decimal(price),
                    sku=f"SKU-{variant_id}",
                    inventory_quantity=quantity,
                    inventory_tracked=True,
                    inventory_policy="deny",
                    status="active",
                )
            )
        seed_index(shop.id, NEIGHBORS, ((v, 50 - rank, 20) for rank, v in enumerate(CATALOG)))
        db.session.add(
            RecommenderConfig(
                shop_id=shop.id,
                metric="cosine",
                k=2,
                trained_at=datetime.now(UTC),
                model_version=1,
                train_orders=60,
                status="trained",
            )
        )
        db.session.commit()
    return shop


REQUEST_SCHEMA = f"/paths/{_escape(API)}/post/requestBody/content/application~1json/schema"


def _post(client, headers, body: Any = None, *, data: str | bytes | None = None):
    if data is None:
        data = json.dumps(body)
    return client.post(API, data=data, headers={**headers, "Content-Type": "application/json"})


def test_recommendations_match_the_document(client, trained_shop, auth_headers):
    body = {"cartVariantIds": ["1001"]}
    _validate(body, REQUEST_SCHEMA)
    response = _post(client, auth_headers(trained_shop), body)
    assert response.status_code == 200, response.get_data(True)
    assert_matches_document(API, "POST", response)
    body = response.get_json()
    assert body["recommendations"], "a trained shop with neighbours answers something"
    assert all(r["variantId"] != "1001" for r in body["recommendations"])


def test_integer_ids_gids_and_a_limit_match_the_document(client, trained_shop, auth_headers):
    body = {"cartVariantIds": [1001, "gid://shopify/ProductVariant/1002"], "limit": 1}
    _validate(body, REQUEST_SCHEMA)
    response = _post(client, auth_headers(trained_shop), body)
    assert response.status_code == 200, response.get_data(True)
    assert_matches_document(API, "POST", response)
    assert len(response.get_json()["recommendations"]) <= 1


def test_an_unknown_cart_matches_the_document(client, trained_shop, auth_headers):
    response = _post(client, auth_headers(trained_shop), {"cartVariantIds": ["999999999"]})
    assert response.status_code == 200, response.get_data(True)
    assert_matches_document(API, "POST", response)


@pytest.mark.parametrize(
    ("body", "raw"),
    [
        (None, "{not json"),
        ({}, None),
        ({"cartVariantIds": "1001"}, None),
        ({"cartVariantIds": ["abc"]}, None),
        ({"cartVariantIds": [str(n) for n in range(1, 102)]}, None),
        ({"cartVariantIds": ["1001"], "limit": 0}, None),
        ({"cartVariantIds": ["1001"], "limit": 11}, None),
        ({"cartVariantIds": ["1001"], "limit": "two"}, None),
    ],
    ids=[
        "malformed",
        "missing",
        "not-a-list",
        "non-numeric",
        "over-100",
        "limit-0",
        "limit-11",
        "limit-text",
    ],
)
def test_bad_input_answers_a_documented_400(client, trained_shop, auth_headers, body, raw):
    response = _post(client, auth_headers(trained_shop), body, data=raw)
    assert response.status_code == 400, response.get_data(True)
    assert_matches_document(API, "POST", response)


def test_oversized_body_answers_a_documented_413(client, trained_shop, auth_headers):
    body = {"cartVariantIds": ["1001"], "padding": "x" * (65 * 1024)}
    response = _post(client, auth_headers(trained_shop), body)
    assert response.status_code == 413, response.get_data(True)
    assert_matches_document(API, "POST", response)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-jwt", "Basic Zm9vOmJhcg=="])
def test_missing_or_bad_token_answers_a_documented_401(client, trained_shop, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = _post(client, headers, {"cartVariantIds": ["1001"]})
    assert response.status_code == 401, response.get_data(True)
    assert_matches_document(API, "POST", response)


def test_wrong_method_answers_a_documented_405(client, trained_shop, auth_headers):
    response = client.get(API, headers=auth_headers(trained_shop))
    assert response.status_code == 405
    assert_matches_document(API, "POST", response)
    assert "POST" in response.headers["Allow"]


def test_preflight_matches_the_document(client):
    response = client.options(
        API,
        headers={
            "Origin": "https://cdn.shopify.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert_matches_document(API, "OPTIONS", response)


EVENTS = "/api/events"
EVENTS_SCHEMA = f"/paths/{_escape(EVENTS)}/post/requestBody/content/application~1json/schema"


def test_events_match_the_document(client, trained_shop, auth_headers):
    headers = {**auth_headers(trained_shop), "Content-Type": "application/json"}
    answer = _post(client, auth_headers(trained_shop), {"cartVariantIds": ["1001"]}).get_json()
    items = [r["variantId"] for r in answer["recommendations"]]
    batch = {
        "events": [
            {
                "id": "event-0001-shown",
                "type": "shown",
                "recommendationId": answer["recommendationId"],
                "variantIds": items,
                "locationId": "3",
                "staffMemberId": "55",
            },
            {
                "id": "event-0002-added",
                "type": "added",
                "recommendationId": answer["recommendationId"],
                "variantId": "999",
            },
        ]
    }
    _validate(batch, EVENTS_SCHEMA)
    response = client.post(EVENTS, data=json.dumps(batch), headers=headers)
    assert response.status_code == 200, response.get_data(True)
    assert_matches_document(EVENTS, "POST", response)
    assert response.get_json()["rejected"] == [
        {"index": 1, "id": "event-0002-added", "reason": "not_in_answer"}
    ]
    for data, status in ((json.dumps({"events": []}), 400), ("x" * 70_000, 413)):
        response = client.post(EVENTS, data=data, headers=headers)
        assert response.status_code == status
        assert_matches_document(EVENTS, "POST", response)
    response = client.post(EVENTS, data="{}", headers={"Content-Type": "application/json"})
    assert_matches_document(EVENTS, "POST", response)
    assert_matches_document(EVENTS, "OPTIONS", client.options(EVENTS))

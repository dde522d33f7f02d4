"""Every document in posai_app.shopify.queries' registry against Shopify's published Admin schema.

The schema and its scope table come from @shopify/dev-mcp (artifacts.py), at the version
the app pins (posai_app.shopify.version). A document passes when it validates, selects no
deprecated field, argument or enum value, needs no access scope that shopify.app.toml does
not request, and (unless it is a bulk inner query) costs at most 1,000 points at the
variables the code sends.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import graphql
import pytest

from posai_app.shopify import cost, queries
from posai_app.shopify.version import API_VERSION
from tests.shopify_contract import artifacts

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = {d.name: d for d in queries.registry()}


@pytest.fixture(scope="module")
def schema():
    return artifacts.admin_schema(API_VERSION)


def requested_scopes() -> set[str]:
    toml = tomllib.loads((ROOT / "shopify.app.toml").read_text(encoding="utf-8"))
    return {s.strip() for s in toml["access_scopes"]["scopes"].split(",") if s.strip()}


def deprecations(schema, text: str) -> list[str]:
    """Deprecated fields, arguments and enum values the document uses."""
    found: list[str] = []
    info = graphql.TypeInfo(schema)

    class Visitor(graphql.Visitor):
        def enter_field(self, node, *_):
            field, parent = info.get_field_def(), info.get_parent_type()
            if field is not None and field.deprecation_reason:
                found.append(f"{parent.name}.{node.name.value}: {field.deprecation_reason}")

        def enter_argument(self, node, *_):
            argument = info.get_argument()
            if argument is not None and argument.deprecation_reason:
                found.append(f"argument {node.name.value}: {argument.deprecation_reason}")

        def enter_enum_value(self, node, *_):
            value = info.get_enum_value()
            if value is not None and value.deprecation_reason:
                found.append(f"enum value {node.value}: {value.deprecation_reason}")

    graphql.visit(graphql.parse(text), graphql.TypeInfoVisitor(info, Visitor()))
    return found


def scope_rules(version: str) -> tuple[dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """dev-mcp's table as (type name → scopes, (type, field) → scopes)."""
    types: dict[str, list[str]] = {}
    fields: dict[tuple[str, str], list[str]] = {}
    for item in artifacts.admin_scope_rules(version):
        if item["type"] == "type":
            types[item["typeName"]] = item["offlineScopes"]
        else:
            fields[(item["typeName"], item["fieldName"])] = item["offlineScopes"]
    return types, fields


def granted_by(scopes: set[str]) -> set[str]:
    """What a set of granted scopes allows: write_X also grants read_X (Shopify's rule)."""
    return scopes | {"read_" + s.removeprefix("write_") for s in scopes if s.startswith("write_")}


def satisfied(alternatives: list[str], granted: set[str]) -> bool:
    # dev-mcp lists alternatives ("`read_orders` access scope or `read_marketplace_orders`
    # access scope" → ["read_orders", "read_marketplace_orders"]): any one is enough.
    return not alternatives or bool(set(alternatives) & granted_by(granted))


def missing_scopes(schema, text: str, granted: set[str]) -> list[str]:
    types, fields = scope_rules(API_VERSION)
    missing: list[str] = []
    info = graphql.TypeInfo(schema)

    class Visitor(graphql.Visitor):
        def enter_field(self, node, *_):
            parent, field = info.get_parent_type(), info.get_field_def()
            if parent is None or field is None:
                return
            returned = graphql.get_named_type(field.type).name
            for what, needed in (
                (f"{parent.name}.{node.name.value}", fields.get((parent.name, node.name.value), [])),
                (returned, types.get(returned, [])),
            ):
                if not satisfied(needed, granted):
                    missing.append(f"{what} needs one of {needed}")

    graphql.visit(graphql.parse(text), graphql.TypeInfoVisitor(info, Visitor()))
    return missing


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_validates_against_the_pinned_schema(schema, name):
    errors = graphql.validate(schema, graphql.parse(DOCUMENTS[name].text))
    assert [e.message for e in errors] == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_uses_nothing_deprecated(schema, name):
    assert deprecations(schema, DOCUMENTS[name].text) == []


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_needs_only_requested_scopes(schema, name):
    assert missing_scopes(schema, DOCUMENTS[name].text, requested_scopes()) == []


@pytest.mark.parametrize("name", sorted(n for n, d in DOCUMENTS.items() if not d.bulk))
def test_document_costs_at_most_the_single_query_limit(schema, name):
    document = DOCUMENTS[name]
    assert cost.query_cost(schema, document.text, document.variables) <= cost.MAX_SINGLE_QUERY_COST


def test_checks_catch_what_they_are_for(schema):
    """The checks above can fail: the documents they replaced are caught by each one."""
    old_poll = "query { currentBulkOperation(type: QUERY) { id status } }"
    assert deprecations(schema, old_poll)
    assert deprecations(schema, "query($id: ID!) { inventoryItem(id: $id) { variant { id } } }")
    assert graphql.validate(schema, graphql.parse("{ products(first: 1) { edges { node { bogus } } } }"))
    assert missing_scopes(schema, "{ customers(first: 1) { edges { node { id } } } }", requested_scopes())
    assert not missing_scopes(schema, "{ products(first: 1) { edges { node { id } } } }", {"write_products"})
    assert missing_scopes(schema, "{ orders(first: 1) { edges { node { id } } } }", {"read_products"})


def test_bulk_run_query_leaves_grouping_at_the_versions_default(schema):
    """2026-10's groupObjects defaults to false; the reader does not depend on grouping."""
    argument = schema.mutation_type.fields["bulkOperationRunQuery"].args["groupObjects"]
    introspected = next(
        a
        for t in artifacts.admin_introspection(API_VERSION)["__schema"]["types"]
        if t["name"] == "Mutation"
        for f in t["fields"]
        if f["name"] == "bulkOperationRunQuery"
        for a in f["args"]
        if a["name"] == "groupObjects"
    )
    assert str(argument.type) == "Boolean!" and introspected["defaultValue"] == "false"
    assert "groupObjects" not in queries.RUN_BULK_QUERY


def test_the_busy_codes_are_bulk_operation_user_error_codes_of_the_pinned_schema(schema):
    """`bulk.BUSY_CODES` decide whether a bulk query started ahead (sync._start_first_bulk_operations)
    or in its turn waits and retries: each must be a value of Shopify's own BulkOperationUserErrorCode,
    and the mutation's userErrors must carry that enum as `code`."""
    from posai_app.shopify.bulk import BUSY_CODES

    enum = schema.get_type("BulkOperationUserErrorCode")
    assert isinstance(enum, graphql.GraphQLEnumType)
    assert BUSY_CODES <= set(enum.values), BUSY_CODES - set(enum.values)
    payload = schema.mutation_type.fields["bulkOperationRunQuery"].type
    user_error = graphql.get_named_type(payload.fields["userErrors"].type)
    assert graphql.get_named_type(user_error.fields["code"].type) is enum

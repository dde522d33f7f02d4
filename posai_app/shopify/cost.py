"""Shopify's calculated query cost of a GraphQL Admin document, computed before sending it.

Shopify prices every query statically, from the document and its variables, before it runs,
and rejects one that costs more than 1,000 points (`MAX_COST_EXCEEDED`). The rules, from
https://shopify.dev/docs/api/usage/limits#cost-calculation and
https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits#cost-calculation:

- a scalar or enum field costs 0, an object field 1 (plus what is selected inside it);
- a connection costs 2 plus `first` (or `last`) × the cost of one of its nodes, so nested
  connections multiply; the edges/node wrappers and `pageInfo` are covered by the 2;
- an interface or union costs the maximum of its possible types' selections;
- a mutation field costs 10.

The requested cost is charged before the query runs; Shopify then refunds the difference to
the actual cost, the same rules applied to the nodes really returned (`actual_cost`).

Used by the contract tests (every registered document at its real page sizes) and by the
test fake, which charges and refuses with it exactly as Shopify would.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    is_abstract_type,
    is_leaf_type,
    parse,
    value_from_ast_untyped,
)

MAX_SINGLE_QUERY_COST = 1000
MUTATION_COST = 10
CONNECTION_COST = 2
OBJECT_COST = 1


class CostError(ValueError):
    """The document cannot be priced (e.g. a connection without `first` or `last`)."""


def query_cost(
    schema: GraphQLSchema,
    document: str | DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The requested cost Shopify computes for this operation at these variables."""
    tree = parse(document) if isinstance(document, str) else document
    operation = get_operation_ast(tree, operation_name)
    if operation is None:
        raise CostError(f"no operation {operation_name!r} in the document")
    values = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    values.update(variables or {})
    pricer = _Pricer(schema, tree, values)
    if operation.operation == OperationType.MUTATION:
        return MUTATION_COST * sum(1 for _ in pricer.fields(schema.mutation_type, operation.selection_set))
    root = (
        schema.subscription_type if operation.operation == OperationType.SUBSCRIPTION else schema.query_type
    )
    return pricer.selection(root, operation.selection_set)


def actual_cost(
    schema: GraphQLSchema,
    document: str | DocumentNode,
    data: Mapping[str, Any] | None,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> int:
    """The cost of what a query returned: each connection priced by its nodes, not its `first`."""
    tree = parse(document) if isinstance(document, str) else document
    operation = get_operation_ast(tree, operation_name)
    if operation is None or operation.operation == OperationType.MUTATION:
        return query_cost(schema, tree, variables, operation_name)
    return _Pricer(schema, tree, variables or {}).returned(schema.query_type, operation.selection_set, data)


class _Pricer:
    def __init__(self, schema: GraphQLSchema, tree: DocumentNode, variables: Mapping[str, Any]):
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in tree.definitions if isinstance(d, FragmentDefinitionNode)}

    def selection(self, parent: GraphQLObjectType, selection_set: SelectionSetNode | None) -> int:
        return sum(self.field(parent, node) for node in self.fields(parent, selection_set))

    def field(self, parent: GraphQLObjectType, node: FieldNode) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            raise CostError(f"{parent.name} has no field {name!r}")
        returned = get_named_type(definition.type)
        if is_leaf_type(returned):
            return 0
        if _is_connection(returned):
            return CONNECTION_COST + self.page_size(parent, node) * self.node_cost(returned, node)
        return self.object(returned, node.selection_set)

    def object(self, kind: Any, selection_set: SelectionSetNode | None) -> int:
        if is_abstract_type(kind):
            possible = self.schema.get_possible_types(kind)
            return OBJECT_COST + max((self.selection(t, selection_set) for t in possible), default=0)
        return OBJECT_COST + self.selection(kind, selection_set)

    def node_cost(self, connection: GraphQLObjectType, node: FieldNode) -> int:
        """The cost of one item: what `edges { node }` and `nodes` select (pageInfo is free)."""
        cost = 0
        for child in self.fields(connection, node.selection_set):
            if child.name.value == "nodes":
                cost += self.object(get_named_type(connection.fields["nodes"].type), child.selection_set)
            elif child.name.value == "edges":
                edge = get_named_type(connection.fields["edges"].type)
                for inner in self.fields(edge, child.selection_set):
                    if inner.name.value == "node":
                        cost += self.object(get_named_type(edge.fields["node"].type), inner.selection_set)
        return cost

    def page_size(self, parent: GraphQLObjectType, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = value_from_ast_untyped(argument.value, self.variables)
                if value is not None:
                    return int(value)
        raise CostError(f"{parent.name}.{node.name.value} is a connection without `first` or `last`")

    def returned(self, parent: Any, selection_set: SelectionSetNode | None, value: Any) -> int:
        """Like selection(), over the data returned: connections count the nodes they hold."""
        if not isinstance(value, Mapping):
            return 0
        if is_abstract_type(parent):
            runtime = self.schema.get_type(str(value.get("__typename"))) if "__typename" in value else None
            if runtime is None:  # no __typename selected: price as the dearest possible type
                return max(
                    (self.returned(t, selection_set, value) for t in self.schema.get_possible_types(parent)),
                    default=0,
                )
            parent = runtime
        total = 0
        for node in self.fields(parent, selection_set):
            name = node.name.value
            definition = parent.fields.get(name)
            child = value.get(node.alias.value if node.alias else name)
            if definition is None or child is None or name.startswith("__"):
                continue
            kind = get_named_type(definition.type)
            if is_leaf_type(kind):
                continue
            if _is_connection(kind):
                total += CONNECTION_COST + self.returned_nodes(kind, node, child)
            elif isinstance(child, list):
                total += sum(OBJECT_COST + self.returned(kind, node.selection_set, c) for c in child)
            else:
                total += OBJECT_COST + self.returned(kind, node.selection_set, child)
        return total

    def returned_nodes(self, connection: GraphQLObjectType, node: FieldNode, value: Mapping[str, Any]) -> int:
        cost = 0
        for child in self.fields(connection, node.selection_set):
            key = child.alias.value if child.alias else child.name.value
            if child.name.value == "nodes":
                kind = get_named_type(connection.fields["nodes"].type)
                cost += sum(
                    OBJECT_COST + self.returned(kind, child.selection_set, n) for n in value.get(key) or []
                )
            elif child.name.value == "edges":
                edge = get_named_type(connection.fields["edges"].type)
                kind = get_named_type(edge.fields["node"].type)
                for inner in self.fields(edge, child.selection_set):
                    if inner.name.value == "node":
                        inner_key = inner.alias.value if inner.alias else "node"
                        cost += sum(
                            OBJECT_COST + self.returned(kind, inner.selection_set, e.get(inner_key))
                            for e in value.get(key) or []
                        )
        return cost

    def fields(self, parent: Any, selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
        """The fields selected on `parent`, through inline fragments and fragment spreads."""
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                if self.applies(parent, selection.type_condition and selection.type_condition.name.value):
                    yield from self.fields(parent, selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and self.applies(parent, fragment.type_condition.name.value):
                    yield from self.fields(parent, fragment.selection_set)

    def applies(self, parent: Any, condition: str | None) -> bool:
        if condition is None or condition == parent.name:
            return True
        kind = self.schema.get_type(condition)
        return kind is not None and is_abstract_type(kind) and self.schema.is_sub_type(kind, parent)


def _is_connection(kind: Any) -> bool:
    return (
        isinstance(kind, GraphQLObjectType)
        and kind.name.endswith("Connection")
        and ("edges" in kind.fields or "nodes" in kind.fields)
    )

"""A local fake of Shopify's GraphQL Admin API, served over a real loopback socket.

Every request is validated and executed by graphql-core against Shopify's published Admin
schema of the pinned version (tests/shopify_contract/artifacts.py), over the fake shop's
data (tests.fakeshopify.resolvers): it cannot answer a field or shape Shopify would not.
Each query is priced with posai_app.shopify.cost, the rules Shopify documents; one above
1,000 points is refused with Shopify's MAX_COST_EXCEEDED error, and the leaky bucket answers
THROTTLED when a request costs more than is available. Bulk operations run and stream their
JSONL, grouped (children right after their parent) or, as 2026-01+ does by default,
ungrouped (each child somewhere after its parent). It can be told to fail or drop requests,
and signs webhooks the way Shopify does. Data are REST-shaped payloads (see
posai_app.demo.payloads); GraphQL answers carry GIDs and string prices like the real API.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import graphql
import httpx

from posai_app.shopify.cost import MAX_SINGLE_QUERY_COST, CostError, actual_cost, query_cost
from posai_app.shopify.version import API_VERSION
from tests.fakeshopify import bulkfile, resolvers
from tests.fakeshopify.oauth import FakeShopifyOAuth
from tests.fakeshopify.shapes import (
    gid,
    level_nodes,
    line_item_node,
    now_iso,
    order_node,
    product_node,
    search_since,
    ts,
    variant_node,
)
from tests.helpers import TEST_API_KEY, TEST_API_SECRET
from tests.shopify_contract import artifacts

# The JSONL form of a bulk query that does not pass groupObjects: Shopify's default from
# 2026-01 (and at the pinned 2026-10) is ungrouped.
GROUPED_BY_DEFAULT = False

_BASE_CACHE: dict[Any, tuple[str, int]] = {}
_BASE_CACHE_LOCK = threading.Lock()


# ------------------------------------------------------------------ state


@dataclass
class BulkOp:
    id: str
    kind: str  # "orders" | "products"
    search: str | None
    created_at: str
    polls_left: int
    status: str = "CREATED"
    object_count: int | None = None
    completed_at: str | None = None
    grouped: bool = True  # children right after their parent (groupObjects: true)
    query: str = ""
    root_count: int | None = None
    file_expired: bool = False  # the signed URL stopped working (Shopify keeps files a week)


@dataclass
class FakeShop:
    domain: str
    token: str
    products: dict[int, dict] = field(default_factory=dict)
    base_orders: Callable[[], Iterable[dict]] | None = None  # a large, immutable history (streamed)
    orders: dict[int, dict | None] = field(default_factory=dict)  # added/changed (None: deleted)
    bulk_ops: list[BulkOp] = field(default_factory=list)
    bucket_available: float = 0.0
    bucket_at: float = 0.0

    def iter_orders(self) -> Iterator[dict]:
        if self.base_orders is not None:
            for order in self.base_orders():
                if order["id"] not in self.orders:
                    yield order
        for order in self.orders.values():
            if order is not None:
                yield order

    def find_order(self, order_id: int) -> dict | None:
        if order_id in self.orders:
            return self.orders[order_id]
        return next((o for o in self.iter_orders() if o["id"] == order_id), None)


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "throttle429"
    status: int = 500
    retry_after: str | None = None


class FakeShopify:
    """The fake. `start()` it, point SHOPIFY_ADMIN_BASE_URL at `admin_base_url`, add shops."""

    def __init__(
        self,
        *,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        bulk_polls: int = 1,
        api_version: str = API_VERSION,
        grouped: bool = GROUPED_BY_DEFAULT,
        api_key: str = TEST_API_KEY,
        api_secret: str = TEST_API_SECRET,
    ):
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.bulk_polls = bulk_polls
        self.api_version = api_version
        self.grouped = grouped  # the JSONL form when bulkOperationRunQuery omits groupObjects
        # Which id an inventory level's line names as `__parentId`: its variant (the line it is
        # nested in) or the variant's inventoryItem; Shopify's docs do not say (test_bulk_lines).
        self.level_parent = "variant"
        self.bulk_concurrency = 1  # bulk queries one shop may run at once
        self.served_version: str | None = None  # answer with another X-Shopify-API-Version
        self.schema: graphql.GraphQLSchema | None = None
        self._documents: dict[str, tuple[graphql.DocumentNode | None, list[dict]]] = {}
        self.shops: dict[str, FakeShop] = {}
        self.faults: list[Fault] = []
        self.download_faults: list[int] = []  # drop the JSONL download after this many lines
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.throttled = 0
        self.refused = 0  # MAX_COST_EXCEEDED answers
        self.downloads = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bulk_counter = 0
        # OAuth (token exchange, code grant, refresh) on the same socket as the Admin API.
        self.oauth = FakeShopifyOAuth(api_key=api_key, api_secret=api_secret).mount(lambda: self.base_url)

    # -------------------------------------------------------------- lifecycle

    def load_schema(self) -> graphql.GraphQLSchema:
        """Shopify's Admin schema for this version (skips the calling test when it is not installed)."""
        if self.schema is None:
            self.schema = artifacts.admin_schema(self.api_version)
        return self.schema

    def start(self) -> FakeShopify:
        """Serve Admin GraphQL, bulk files and OAuth on one loopback socket."""
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-shopify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def ungrouped(self) -> bool:
        """The inverse of `grouped` (the name the bulk reader's tests use)."""
        return not self.grouped

    @ungrouped.setter
    def ungrouped(self, value: bool) -> None:
        self.grouped = not value

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def admin_base_url(self) -> str:
        """Value for SHOPIFY_ADMIN_BASE_URL."""
        return self.base_url + "/{shop}"

    # -------------------------------------------------------------- data

    def add_shop(
        self,
        domain: str,
        token: str,
        *,
        products: Iterable[dict] = (),
        orders: Iterable[dict] = (),
        base_orders: Callable[[], Iterable[dict]] | None = None,
    ) -> FakeShop:
        shop = FakeShop(domain=domain, token=token, base_orders=base_orders)
        shop.products = {p["id"]: p for p in products}
        shop.orders = {o["id"]: o for o in orders}
        shop.bucket_available = self.bucket_size
        shop.bucket_at = time.monotonic()
        with self.lock:
            self.shops[domain] = shop
        return shop

    def reset(self) -> None:
        with self.lock:
            self.shops.clear()
            self.faults.clear()
            self.download_faults.clear()
            self.requests.clear()
            self.throttled = 0
            self.refused = 0
            self.downloads = 0
            self.grouped = GROUPED_BY_DEFAULT
            self.level_parent = "variant"
            self.bulk_concurrency = 1
            self.served_version = None

    def set_order(self, domain: str, order: dict) -> None:
        with self.lock:
            self.shops[domain].orders[order["id"]] = order

    def delete_order(self, domain: str, order_id: int) -> None:
        with self.lock:
            self.shops[domain].orders[order_id] = None

    def set_product(self, domain: str, product: dict) -> None:
        with self.lock:
            self.shops[domain].products[product["id"]] = product

    # -------------------------------------------------------------- faults

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        with self.lock:
            self.faults.extend(Fault("status", status=status) for _ in range(count))

    def rate_limit_next(self, count: int = 1, retry_after: str = "1") -> None:
        with self.lock:
            self.faults.extend(
                Fault("throttle429", status=429, retry_after=retry_after) for _ in range(count)
            )

    def drop_next(self, count: int = 1) -> None:
        """Close the connection without answering the next `count` GraphQL requests."""
        with self.lock:
            self.faults.extend(Fault("drop") for _ in range(count))

    def drop_download_after(self, lines: int) -> None:
        with self.lock:
            self.download_faults.append(lines)

    def drain_bucket(self, domain: str, to: float = 0.0) -> None:
        with self.lock:
            shop = self.shops[domain]
            shop.bucket_available = to
            shop.bucket_at = time.monotonic()

    # -------------------------------------------------------------- webhooks

    def webhook(
        self,
        topic: str,
        shop_domain: str,
        payload: dict,
        secret: str,
        *,
        webhook_id: str | None = None,
        triggered_at: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """(body, headers) exactly as Shopify sends a webhook."""
        body = json.dumps(payload).encode()
        headers = webhook_headers(
            topic,
            shop_domain,
            body,
            secret,
            api_version=self.api_version,
            webhook_id=webhook_id,
            triggered_at=triggered_at,
        )
        return body, headers

    def deliver(
        self, url: str, topic: str, shop_domain: str, payload: dict, secret: str, **kw
    ) -> httpx.Response:
        """POST a signed webhook to the app over HTTP (Shopify's 5 s timeout)."""
        body, headers = self.webhook(topic, shop_domain, payload, secret, **kw)
        return httpx.post(url, content=body, headers=headers, timeout=5.0)

    # -------------------------------------------------------------- GraphQL

    def _take_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def _charge(self, shop: FakeShop, requested: float) -> dict | None:
        """Leaky bucket: None if the request may run (and is charged), else the throttle status."""
        with self.lock:
            now = time.monotonic()
            available = min(
                self.bucket_size, shop.bucket_available + self.restore_rate * (now - shop.bucket_at)
            )
            shop.bucket_at = now
            if available < requested:
                shop.bucket_available = available
                self.throttled += 1
                return self._status(available)
            shop.bucket_available = available - requested
            return None

    def _refund(self, shop: FakeShop, amount: float) -> float:
        with self.lock:
            shop.bucket_available = min(self.bucket_size, shop.bucket_available + amount)
            return self._available(shop)

    def _available(self, shop: FakeShop) -> float:
        with self.lock:
            elapsed = time.monotonic() - shop.bucket_at
            return min(self.bucket_size, shop.bucket_available + self.restore_rate * elapsed)

    def _status(self, available: float) -> dict:
        return {
            "maximumAvailable": self.bucket_size,
            "currentlyAvailable": int(available),
            "restoreRate": self.restore_rate,
        }

    def _checked(self, text: str) -> tuple[graphql.DocumentNode | None, list[dict]]:
        """Parse and validate a document once per text (the app sends the same few again and again)."""
        with self.lock:
            known = self._documents.get(text)
        if known is not None:
            return known
        try:
            document = graphql.parse(text)
        except graphql.GraphQLError as exc:
            return None, [exc.formatted]
        checked = (document, [e.formatted for e in graphql.validate(self.schema, document)])
        with self.lock:
            self._documents[text] = checked
        return checked

    def graphql(self, shop: FakeShop, body: dict) -> dict:
        """Answer one request as Shopify does: validate, price, charge, then execute."""
        text = body.get("query") or ""
        variables = body.get("variables") or {}
        document, errors = self._checked(text)
        if errors:
            return {"errors": errors}
        operation = graphql.get_operation_ast(document, body.get("operationName"))
        name = operation.name.value if operation is not None and operation.name else None
        try:
            requested = query_cost(self.schema, document, variables, body.get("operationName"))
        except CostError as exc:
            return {"errors": [{"message": str(exc)}]}
        record = {"operation": name, "query": text, "cost": requested, "actual": None, "at": time.monotonic()}
        with self.lock:
            self.requests.append(record)
        if requested > MAX_SINGLE_QUERY_COST:
            with self.lock:
                self.refused += 1
            return _max_cost_exceeded(requested, self._status(self._available(shop)))
        throttled = self._charge(shop, float(requested))
        cost: dict[str, Any] = {"requestedQueryCost": requested}
        if throttled is not None:
            cost.update(actualQueryCost=None, throttleStatus=throttled)
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {"cost": cost},
            }
        result = graphql.execute_sync(
            self.schema,
            document,
            root_value=resolvers.root_value(self, shop),
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        # Shopify charges the requested cost up front and refunds what the answer did not use.
        actual = actual_cost(self.schema, document, result.data, variables, body.get("operationName"))
        record["actual"] = actual
        available = self._refund(shop, max(0, requested - actual))
        cost.update(actualQueryCost=actual, throttleStatus=self._status(available))
        answer: dict[str, Any] = {"data": result.data, "extensions": {"cost": cost}}
        if result.errors:
            answer["errors"] = [e.formatted for e in result.errors]
        return answer

    # -------------------------------------------------------------- bulk

    def run_bulk_query(self, shop: FakeShop, query: str, *, group_objects: bool | None) -> dict:
        """bulkOperationRunQuery: Shopify validates the inner query and allows few at a time."""
        try:
            inner = graphql.parse(query)
        except graphql.GraphQLError as exc:
            return _bulk_user_error(["query"], exc.message, "INVALID")
        errors = graphql.validate(self.schema, inner)
        if errors:
            return _bulk_user_error(["query"], "; ".join(e.message for e in errors), "INVALID")
        root = _root_field(inner)
        if root is None or root.name.value not in ("orders", "products"):
            return _bulk_user_error(
                ["query"], "The fake runs bulk queries of orders or products only", "INVALID"
            )
        search = next(
            (
                graphql.value_from_ast_untyped(a.value)
                for a in root.arguments or ()
                if a.name.value == "query"
            ),
            None,
        )
        with self.lock:
            running = [op for op in shop.bulk_ops if op.status in ("CREATED", "RUNNING")]
            if len(running) >= self.bulk_concurrency:
                if self.bulk_concurrency == 1:
                    message = "A bulk query operation for this app and shop is already in progress"
                    return _bulk_user_error(None, f"{message}: {running[0].id}.", "OPERATION_IN_PROGRESS")
                return _bulk_user_error(None, "Bulk operations limit reached.", "LIMIT_REACHED")
            self._bulk_counter += 1
            op = BulkOp(
                id=f"gid://shopify/BulkOperation/{7000 + self._bulk_counter}",
                kind=root.name.value,
                search=search,
                created_at=now_iso(),
                polls_left=self.bulk_polls,
                grouped=self.grouped if group_objects is None else group_objects,
                query=query,
            )
            shop.bulk_ops.append(op)
        return {"bulkOperation": self.bulk_view(shop, op), "userErrors": []}

    def bulk_operation_view(self, shop: FakeShop, operation_id: str) -> dict | None:
        """bulkOperation(id:): each poll moves the operation on."""
        op = next((o for o in shop.bulk_ops if o.id == operation_id), None)
        if op is None:
            return None
        self._advance(op, shop)  # not under the lock: completing may render a large file
        return self.bulk_view(shop, op)

    def _advance(self, op: BulkOp, shop: FakeShop) -> None:
        if op.status in ("COMPLETED", "FAILED", "CANCELED"):
            return
        if op.polls_left > 0:
            op.polls_left -= 1
            op.status = "RUNNING"
            return
        op.object_count, op.root_count = self.count_lines(shop, op)
        op.status = "COMPLETED"
        op.completed_at = now_iso()

    def bulk_view(self, shop: FakeShop, op: BulkOp) -> dict:
        done = op.status == "COMPLETED"
        return {
            "id": op.id,
            "status": op.status,
            "type": "QUERY",
            "query": op.query,
            "errorCode": None,
            "createdAt": op.created_at,
            "completedAt": op.completed_at,
            "objectCount": str(op.object_count or 0),
            "rootObjectCount": str(op.root_count or 0),
            "fileSize": None,
            "url": f"{self.base_url}/bulk/{shop.domain}/{op.id.rsplit('/', 1)[-1]}.jsonl"
            if done and op.object_count
            else None,
            "partialDataUrl": None,
        }

    def _cached_base(self, shop: FakeShop, op: BulkOp) -> tuple[str, int, int] | None:
        """The unfiltered orders file of an unchanged base history, rendered once per process.

        Rendering half a million lines costs seconds of GIL time in the test process; the
        full-history tests download it several times.
        """
        if op.kind != "orders" or op.search or shop.orders or shop.base_orders is None:
            return None
        key = (shop.base_orders, op.grouped)
        with _BASE_CACHE_LOCK:
            if key not in _BASE_CACHE:
                handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
                count = roots = 0
                with handle:
                    for line in self._arrange(op, self._order_groups(shop.iter_orders(), 0.0)):
                        handle.write(line + "\n")
                        count += 1
                        roots += '"__parentId"' not in line
                _BASE_CACHE[key] = (handle.name, count, roots)
                atexit.register(clear_cache)
            return _BASE_CACHE[key]

    def count_lines(self, shop: FakeShop, op: BulkOp) -> tuple[int, int]:
        """(objectCount, rootObjectCount) of the operation's file."""
        cached = self._cached_base(shop, op)
        if cached is not None:
            return cached[1], cached[2]
        since = ts(search_since(op.search))
        if op.kind == "products":
            items = [p for p in shop.products.values() if ts(p.get("updated_at")) >= since]
            lines = sum(
                1 + sum(1 + len(v.get("inventory_levels") or []) for v in p.get("variants") or [])
                for p in items
            )
            return lines, len(items)
        orders = [o for o in shop.iter_orders() if not since or ts(o.get("updated_at")) >= since]
        return sum(1 + len(o.get("line_items") or []) for o in orders), len(orders)

    def bulk_lines(self, shop: FakeShop, op: BulkOp) -> Iterator[str]:
        cached = self._cached_base(shop, op)
        if cached is not None:
            with open(cached[0], encoding="utf-8") as fh:
                for line in fh:
                    yield line.rstrip("\n")
            return
        since = ts(search_since(op.search))
        if op.kind == "products":
            products = list(shop.products.values())
            yield from self._arrange(op, self._product_groups(products, since, self.level_parent))
        else:
            yield from self._arrange(op, self._order_groups(shop.iter_orders(), since))

    def _arrange(self, op: BulkOp, groups: Iterable[tuple[str, list[str]]]) -> Iterator[str]:
        if op.grouped:
            return bulkfile.grouped(groups)
        return bulkfile.ungrouped(groups, seed=op.id)

    @staticmethod
    def _product_groups(
        products: Iterable[dict], since: float, level_parent: str = "variant"
    ) -> Iterator[tuple[str, list[str]]]:
        for product in products:
            if ts(product.get("updated_at")) < since:
                continue
            parent = gid("Product", product["id"])
            children = []
            for v in product.get("variants") or []:
                node = variant_node(v)
                children.append(json.dumps({**node, "__parentId": parent}))
                # Inventory levels are lines of their own (the inventoryItem is inline in the variant's).
                of = node["inventoryItem"]["id"] if level_parent == "inventory_item" else node["id"]
                children.extend(json.dumps({**level, "__parentId": of}) for level in level_nodes(v))
            yield json.dumps(product_node(product)), children

    @staticmethod
    def _order_groups(orders: Iterable[dict], since: float) -> Iterator[tuple[str, list[str]]]:
        for order in orders:
            if since and ts(order.get("updated_at")) < since:
                continue
            parent = gid("Order", order["id"])
            currency = order.get("currency")
            children = [
                json.dumps({**line_item_node(item, currency), "__parentId": parent})
                for item in order.get("line_items") or []
            ]
            yield json.dumps(order_node(order)), children


def _root_field(document: graphql.DocumentNode) -> graphql.FieldNode | None:
    operation = graphql.get_operation_ast(document)
    if operation is None:
        return None
    return next((s for s in operation.selection_set.selections if isinstance(s, graphql.FieldNode)), None)


def _bulk_user_error(field_path: list[str] | None, message: str, code: str) -> dict:
    return {"bulkOperation": None, "userErrors": [{"field": field_path, "message": message, "code": code}]}


def _max_cost_exceeded(cost: int, throttle_status: dict) -> dict:
    """Shopify's answer to a query above the single-query limit (it does not run, nothing is charged)."""
    message = (
        f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_SINGLE_QUERY_COST}).\n\n"
        "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
        "cost of a query is calculated.\n\n"
        "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
        "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n"
    )
    return {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "code": "MAX_COST_EXCEEDED",
                    "cost": cost,
                    "maxCost": MAX_SINGLE_QUERY_COST,
                    "documentation": "https://shopify.dev/api/usage/limits#rate-limits",
                },
            }
        ],
        "extensions": {
            "cost": {"requestedQueryCost": cost, "actualQueryCost": None, "throttleStatus": throttle_status}
        },
    }


def webhook_headers(
    topic: str,
    shop_domain: str,
    body: bytes,
    secret: str,
    *,
    api_version: str = API_VERSION,
    webhook_id: str | None = None,
    triggered_at: str | None = None,
) -> dict[str, str]:
    """The headers Shopify sends with a webhook whose body is exactly `body` (any bytes)."""
    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Shopify-Api-Version": api_version,
        "X-Shopify-Triggered-At": triggered_at or datetime.now(UTC).isoformat(),
        "X-Shopify-Event-Id": str(uuid.uuid4()),
    }


def clear_cache() -> None:
    """Remove the rendered history files (atexit does it; processes ended by os._exit call it)."""
    with _BASE_CACHE_LOCK:
        for path, *_ in _BASE_CACHE.values():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        _BASE_CACHE.clear()


# ------------------------------------------------------------------ HTTP


class _Handler(BaseHTTPRequestHandler):
    fake: FakeShopify
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        if self.fake.oauth.handles(self.path):
            self.fake.oauth._handle_post(self)
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        match = re.fullmatch(r"/([^/]+)/admin/api/([^/]+)/graphql\.json", self.path)
        if match is None:
            self._json(404, {"errors": "Not Found"})
            return
        fake = self.fake
        fault = fake._take_fault()
        if fault is not None:
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._json(
                fault.status, {"errors": "Exceeded" if fault.status == 429 else "Internal error"}, headers
            )
            return
        shop = fake.shops.get(match.group(1))
        if shop is None:
            self._json(404, {"errors": "Not Found"})
            return
        if self.headers.get("X-Shopify-Access-Token") != shop.token:
            self._json(
                401,
                {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"},
            )
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, {"errors": "body is not JSON"})
            return
        # Shopify names the version that served the request; an unsupported one is served
        # as the oldest supported version (served_version lets a test play that).
        served = fake.served_version or match.group(2)
        self._json(200, fake.graphql(shop, body), {"X-Shopify-API-Version": served})

    def do_GET(self) -> None:  # noqa: N802
        if self.fake.oauth.handles(self.path):
            self.fake.oauth._handle_get(self)
            return
        match = re.fullmatch(r"/bulk/([^/]+)/(\d+)\.jsonl", self.path)
        fake = self.fake
        shop = fake.shops.get(match.group(1)) if match else None
        op = None
        if shop is not None:
            op = next((o for o in shop.bulk_ops if o.id.endswith("/" + match.group(2))), None)
        if op is None or op.status != "COMPLETED":
            self._json(404, {"errors": "Not Found"})
            return
        if op.file_expired:
            self._json(403, {"error": "Request has expired"})
            return
        with fake.lock:
            fake.downloads += 1
            cut = fake.download_faults.pop(0) if fake.download_faults else None
        self.send_response(200)
        self.send_header("Content-Type", "application/jsonl")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        buffer: list[str] = []
        size = 0
        lines = fake.bulk_lines(shop, op)
        for number, line in enumerate(lines):
            if cut is not None and number >= cut:
                self._write_chunk("".join(buffer).encode())
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            buffer.append(line + "\n")
            size += len(line) + 1
            if size >= 256 * 1024:
                self._write_chunk("".join(buffer).encode())
                buffer, size = [], 0
        if buffer:
            self._write_chunk("".join(buffer).encode())
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")

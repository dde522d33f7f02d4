"""A local fake of Shopify's GraphQL Admin API, served over a real loopback socket.

It answers the operations POSAI's client sends (by operation name: products/orders pages,
nested line item/variant pages, bulk operation start/poll, the JSONL download, inventory
items), keeps Shopify's leaky-bucket cost limit (THROTTLED when a request costs more than is
available), can be told to fail or drop requests, and signs webhooks the way Shopify does.
Data are REST-shaped payloads (see posai_app.ingest.shopify_shape); GraphQL answers carry
GIDs and string prices like the real API.
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

import httpx

from tests.fakeshopify.ungrouped import ungroup

GID = "gid://shopify/{}/{}"
_BASE_CACHE: dict[Any, tuple[str, int]] = {}
_BASE_CACHE_LOCK = threading.Lock()


def _gid(kind: str, value: int | None) -> str | None:
    return None if value is None else GID.format(kind, value)


# ------------------------------------------------------------------ REST -> GraphQL shapes


def product_node(product: dict) -> dict:
    return {
        "id": _gid("Product", product["id"]),
        "title": product.get("title"),
        "status": (product.get("status") or "active").upper(),
        "isGiftCard": bool(product.get("is_gift_card", False)),
        "updatedAt": product.get("updated_at"),
    }


def variant_node(variant: dict) -> dict:
    return {
        "id": _gid("ProductVariant", variant["id"]),
        "title": variant.get("title"),
        "price": variant.get("price"),
        "sku": variant.get("sku"),
        "inventoryQuantity": variant.get("inventory_quantity"),
        "inventoryPolicy": (variant.get("inventory_policy") or "deny").upper(),
        "updatedAt": variant.get("updated_at"),
        "inventoryItem": {
            "id": _gid("InventoryItem", variant.get("inventory_item_id")),
            "tracked": variant.get("inventory_management") is not None,
        },
    }


def order_node(order: dict) -> dict:
    return {
        "id": _gid("Order", order["id"]),
        "name": order.get("name"),
        "createdAt": order.get("created_at"),
        "updatedAt": order.get("updated_at"),
        "cancelledAt": order.get("cancelled_at"),
        "currencyCode": order.get("currency"),
    }


def line_item_node(item: dict, currency: str | None) -> dict:
    return {
        "id": _gid("LineItem", item["id"]),
        "title": item.get("title"),
        "quantity": item.get("quantity"),
        "currentQuantity": item.get("current_quantity", item.get("quantity")),
        "sku": item.get("sku"),
        "variant": {"id": _gid("ProductVariant", item["variant_id"])} if item.get("variant_id") else None,
        "product": {"id": _gid("Product", item["product_id"])} if item.get("product_id") else None,
        "originalUnitPriceSet": {"shopMoney": {"amount": item.get("price"), "currencyCode": currency}},
    }


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


@dataclass
class Fault:
    kind: str  # "status" | "drop" | "throttle429"
    status: int = 500
    retry_after: str | None = None


def _search_since(search: str | None) -> str | None:
    """`updated_at:>='2024-01-01T00:00:00Z'` -> the timestamp (the only filter POSAI sends)."""
    if not search:
        return None
    match = re.search(r"updated_at:>=?'?([0-9T:\-\.Z+]+)'?", search)
    return match.group(1) if match else None


def _ts(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeShopify:
    """The fake. `start()` it, point SHOPIFY_ADMIN_BASE_URL at `admin_base_url`, add shops."""

    def __init__(
        self,
        *,
        bucket_size: float = 2000.0,
        restore_rate: float = 100.0,
        bulk_polls: int = 1,
        api_version: str = "2025-10",
    ):
        self.bucket_size = bucket_size
        self.restore_rate = restore_rate
        self.bulk_polls = bulk_polls
        self.ungrouped = False  # True: bulk files as `groupObjects: false` writes them
        self.api_version = api_version
        self.shops: dict[str, FakeShop] = {}
        self.faults: list[Fault] = []
        self.download_faults: list[int] = []  # drop the JSONL download after this many lines
        self.lock = threading.RLock()
        self.requests: list[dict[str, Any]] = []
        self.throttled = 0
        self.downloads = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bulk_counter = 0

    # -------------------------------------------------------------- lifecycle

    def start(self) -> FakeShopify:
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
            self.downloads = 0

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
        digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": digest,
            "X-Shopify-Shop-Domain": shop_domain,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-Api-Version": self.api_version,
            "X-Shopify-Triggered-At": triggered_at or datetime.now(UTC).isoformat(),
            "X-Shopify-Event-Id": str(uuid.uuid4()),
        }
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
            return shop.bucket_available

    def _status(self, available: float) -> dict:
        return {
            "maximumAvailable": self.bucket_size,
            "currentlyAvailable": int(available),
            "restoreRate": self.restore_rate,
        }

    def graphql(self, shop: FakeShop, body: dict) -> dict:
        operation = body.get("operationName") or _operation_name(body.get("query", ""))
        variables = body.get("variables") or {}
        handler = OPERATIONS.get(operation or "")
        if handler is None:
            return {
                "errors": [{"message": f"Unknown operation {operation!r}", "extensions": {"code": "UNKNOWN"}}]
            }
        requested = float(_requested_cost(operation, variables))
        throttled = self._charge(shop, requested)
        with self.lock:
            self.requests.append(
                {"operation": operation, "at": time.monotonic(), "throttled": bool(throttled)}
            )
        cost = {"requestedQueryCost": int(requested)}
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
        data, actual = handler(self, shop, variables)
        available = self._refund(shop, max(0.0, requested - actual))
        cost.update(actualQueryCost=int(actual), throttleStatus=self._status(available))
        return {"data": data, "extensions": {"cost": cost}}

    # -------------------------------------------------------------- bulk

    def _advance(self, op: BulkOp, shop: FakeShop) -> None:
        if op.status in ("COMPLETED", "FAILED", "CANCELED"):
            return
        if op.polls_left > 0:
            op.polls_left -= 1
            op.status = "RUNNING"
            return
        op.object_count = self.count_lines(shop, op)
        op.status = "COMPLETED"
        op.completed_at = _now_iso()

    def bulk_view(self, shop: FakeShop, op: BulkOp) -> dict:
        done = op.status == "COMPLETED"
        return {
            "id": op.id,
            "status": op.status,
            "errorCode": None,
            "createdAt": op.created_at,
            "completedAt": op.completed_at,
            "objectCount": str(op.object_count or 0),
            "fileSize": None,
            "url": f"{self.base_url}/bulk/{shop.domain}/{op.id.rsplit('/', 1)[-1]}.jsonl"
            if done and op.object_count
            else None,
            "partialDataUrl": None,
        }

    def _cached_base(self, shop: FakeShop, op: BulkOp) -> tuple[str, int] | None:
        """The unfiltered orders file of an unchanged base history, rendered once per process.

        Rendering half a million lines costs seconds of GIL time in the test process; the
        full-history tests download it several times.
        """
        if op.kind != "orders" or op.search or shop.orders or shop.base_orders is None:
            return None
        key = shop.base_orders
        with _BASE_CACHE_LOCK:
            if key not in _BASE_CACHE:
                handle = tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8")
                count = 0
                with handle:
                    for line in self._render_orders(shop.iter_orders(), 0.0):
                        handle.write(line + "\n")
                        count += 1
                _BASE_CACHE[key] = (handle.name, count)
                atexit.register(clear_cache)
            return _BASE_CACHE[key]

    def count_lines(self, shop: FakeShop, op: BulkOp) -> int:
        cached = self._cached_base(shop, op)
        if cached is not None:
            return cached[1]
        since = _ts(_search_since(op.search))
        if op.kind == "products":
            items = [p for p in shop.products.values() if _ts(p.get("updated_at")) >= since]
            return sum(1 + len(p.get("variants") or []) for p in items)
        return sum(
            1 + len(o.get("line_items") or [])
            for o in shop.iter_orders()
            if not since or _ts(o.get("updated_at")) >= since
        )

    def bulk_lines(self, shop: FakeShop, op: BulkOp) -> Iterator[str]:
        since = _ts(_search_since(op.search))
        if op.kind == "products":
            for product in list(shop.products.values()):
                if _ts(product.get("updated_at")) < since:
                    continue
                parent = _gid("Product", product["id"])
                yield json.dumps(product_node(product))
                for variant in product.get("variants") or []:
                    yield json.dumps({**variant_node(variant), "__parentId": parent})
            return
        cached = self._cached_base(shop, op)
        if cached is not None:
            with open(cached[0], encoding="utf-8") as fh:
                for line in fh:
                    yield line.rstrip("\n")
            return
        yield from self._render_orders(shop.iter_orders(), since)

    def _render_orders(self, orders: Iterable[dict], since: float) -> Iterator[str]:
        for order in orders:
            if since and _ts(order.get("updated_at")) < since:
                continue
            parent = _gid("Order", order["id"])
            currency = order.get("currency")
            yield json.dumps(order_node(order))
            for item in order.get("line_items") or []:
                yield json.dumps({**line_item_node(item, currency), "__parentId": parent})


def clear_cache() -> None:
    """Remove the rendered history files (atexit does it; processes ended by os._exit call it)."""
    with _BASE_CACHE_LOCK:
        for path, _ in _BASE_CACHE.values():
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        _BASE_CACHE.clear()


def _operation_name(query: str) -> str | None:
    match = re.match(r"\s*(?:query|mutation)\s+(\w+)", query)
    return match.group(1) if match else None


def _requested_cost(operation: str, variables: dict) -> int:
    first = int(variables.get("first") or 0)
    if operation in ("ProductsPage", "OrdersPage"):
        return 2 + first * 2
    if operation in ("ProductVariantsPage", "OrderLineItemsPage"):
        return 2 + first
    if operation == "BulkOperationRunQuery":
        return 10
    if operation == "OrderById":
        return 4
    return 1


def _page(items: list, first: int, after: str | None) -> tuple[list, dict]:
    start = int(base64.b64decode(after).decode()) if after else 0
    chunk = items[start : start + first]
    end = start + len(chunk)
    info = {
        "hasNextPage": end < len(items),
        "endCursor": base64.b64encode(str(end).encode()).decode() if chunk else after,
    }
    return chunk, info


def _connection(nodes: list[dict], info: dict) -> dict:
    return {"pageInfo": info, "edges": [{"node": n} for n in nodes]}


def _op_products_page(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    since = _ts(_search_since(v.get("query")))
    with fake.lock:
        products = [p for p in shop.products.values() if _ts(p.get("updated_at")) >= since]
    products.sort(key=lambda p: (_ts(p.get("updated_at")), p["id"]))
    chunk, info = _page(products, int(v["first"]), v.get("after"))
    nodes = []
    for product in chunk:
        variants, vinfo = _page(product.get("variants") or [], 100, None)
        nodes.append(
            {**product_node(product), "variants": _connection([variant_node(x) for x in variants], vinfo)}
        )
    return {"products": _connection(nodes, info)}, 2 + 2 * len(chunk)


def _op_orders_page(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    since = _ts(_search_since(v.get("query")))
    with fake.lock:
        orders = [o for o in shop.iter_orders() if _ts(o.get("updated_at")) >= since]
    orders.sort(key=lambda o: (_ts(o.get("updated_at")), o["id"]))
    chunk, info = _page(orders, int(v["first"]), v.get("after"))
    nodes = []
    for order in chunk:
        items, linfo = _page(order.get("line_items") or [], 100, None)
        currency = order.get("currency")
        nodes.append(
            {
                **order_node(order),
                "lineItems": _connection([line_item_node(i, currency) for i in items], linfo),
            }
        )
    return {"orders": _connection(nodes, info)}, 2 + 2 * len(chunk)


def _find_order(shop: FakeShop, gid: str) -> dict | None:
    order_id = int(gid.rsplit("/", 1)[-1])
    if order_id in shop.orders:
        return shop.orders[order_id]
    return next((o for o in shop.iter_orders() if o["id"] == order_id), None)


def _op_order_line_items(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    order = _find_order(shop, v["id"])
    if order is None:
        return {"order": None}, 1
    items, info = _page(order.get("line_items") or [], int(v["first"]), v.get("after"))
    currency = order.get("currency")
    return {"order": {"lineItems": _connection([line_item_node(i, currency) for i in items], info)}}, 2 + len(
        items
    )


def _op_product_variants(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    product = shop.products.get(int(v["id"].rsplit("/", 1)[-1]))
    if product is None:
        return {"product": None}, 1
    variants, info = _page(product.get("variants") or [], int(v["first"]), v.get("after"))
    return {"product": {"variants": _connection([variant_node(x) for x in variants], info)}}, 2 + len(
        variants
    )


def _op_order_by_id(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    order = _find_order(shop, v["id"])
    if order is None:
        return {"order": None}, 1
    items, info = _page(order.get("line_items") or [], 100, None)
    currency = order.get("currency")
    node = {**order_node(order), "lineItems": _connection([line_item_node(i, currency) for i in items], info)}
    return {"order": node}, 4


def _op_inventory_item(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    item_id = int(v["id"].rsplit("/", 1)[-1])
    for product in shop.products.values():
        for variant in product.get("variants") or []:
            if variant.get("inventory_item_id") == item_id:
                return {
                    "inventoryItem": {
                        "id": v["id"],
                        "tracked": variant.get("inventory_management") is not None,
                        "variant": {
                            "id": _gid("ProductVariant", variant["id"]),
                            "inventoryQuantity": variant.get("inventory_quantity"),
                        },
                    }
                }, 2
    return {"inventoryItem": None}, 1


def _op_run_bulk(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    inner = v.get("query") or ""
    root = re.match(r"\s*\{\s*(\w+)", inner)
    kind = root.group(1) if root else ""
    if kind not in ("orders", "products"):
        errors = [{"field": ["query"], "message": f"Unsupported bulk query root {kind!r}"}]
        return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": errors}}, 10
    search = re.search(r'\(query:\s*"([^"]*)"\)', inner)
    with fake.lock:
        running = next((op for op in shop.bulk_ops if op.status in ("CREATED", "RUNNING")), None)
        if running is not None:
            message = f"A bulk query operation for this app and shop is already in progress: {running.id}."
            errors = [{"field": None, "message": message}]
            return {"bulkOperationRunQuery": {"bulkOperation": None, "userErrors": errors}}, 10
        fake._bulk_counter += 1
        op = BulkOp(
            id=f"gid://shopify/BulkOperation/{7000 + fake._bulk_counter}",
            kind=kind,
            search=search.group(1) if search else None,
            created_at=_now_iso(),
            polls_left=fake.bulk_polls,
        )
        shop.bulk_ops.append(op)
    return {
        "bulkOperationRunQuery": {"bulkOperation": {"id": op.id, "status": op.status}, "userErrors": []}
    }, 10


def _op_current_bulk(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    if not shop.bulk_ops:
        return {"currentBulkOperation": None}, 1
    op = shop.bulk_ops[-1]
    fake._advance(op, shop)
    return {"currentBulkOperation": fake.bulk_view(shop, op)}, 1


def _op_bulk_by_id(fake: FakeShopify, shop: FakeShop, v: dict) -> tuple[dict, float]:
    op = next((o for o in shop.bulk_ops if o.id == v.get("id")), None)
    if op is None:
        return {"node": None}, 1
    fake._advance(op, shop)
    return {"node": fake.bulk_view(shop, op)}, 1


OPERATIONS: dict[str, Callable[[FakeShopify, FakeShop, dict], tuple[dict, float]]] = {
    "ProductsPage": _op_products_page,
    "OrdersPage": _op_orders_page,
    "OrderLineItemsPage": _op_order_line_items,
    "ProductVariantsPage": _op_product_variants,
    "OrderById": _op_order_by_id,
    "InventoryItemVariant": _op_inventory_item,
    "BulkOperationRunQuery": _op_run_bulk,
    "CurrentBulkOperation": _op_current_bulk,
    "BulkOperation": _op_bulk_by_id,
}


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
        self._json(200, fake.graphql(shop, body))

    def do_GET(self) -> None:  # noqa: N802
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
        lines = ungroup(fake.bulk_lines(shop, op)) if fake.ungrouped else fake.bulk_lines(shop, op)
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

"""The OAuth part of the fake Shopify, served by FakeShopify's socket (server.py) beside the Admin API.

The app reaches it through SHOPIFY_ADMIN_BASE_URL = fake.base_url ("http://127.0.0.1:<port>/{shop}"):
- POST /{shop}/admin/oauth/access_token: the three grants Shopify supports for us:
  authorization code, token exchange (ID token -> offline token) and refresh_token.
- GET  /{shop}/admin/oauth/authorize: "the merchant approved": 302 to redirect_uri with
  code, host, shop, state, timestamp and a valid hmac.
Error bodies follow Shopify's: {"error": "invalid_subject_token" | "invalid_grant" | ...}.
Tokens issued here are fakes, so tests may read them (to grep the database and logs for them).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN_TYPE = "urn:shopify:params:oauth:token-type:offline-access-token"


@dataclass
class ShopGrant:
    access_token: str
    refresh_token: str | None
    refresh_expires_at: float | None
    scope: str


@dataclass
class FakeShopifyOAuth:
    api_key: str
    api_secret: str
    scope: str = "read_products,read_orders,read_all_orders,read_inventory"
    access_ttl: int = 3600
    refresh_ttl: int = 90 * 24 * 3600
    refresh_delay: float = 0.0  # seconds a refresh takes (widens race windows in tests)
    exchange_delay: float = 0.0  # seconds a token exchange takes
    fail_with_status: int | None = None  # answer every token request with this status (e.g. 503)
    uninstalled: set[str] = field(default_factory=set)  # shops where the app is not installed
    requests: list[dict[str, Any]] = field(default_factory=list)
    grants: dict[str, ShopGrant] = field(default_factory=dict)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._origin: Callable[[], str] | None = None

    # ------------------------------------------------------------------ serving

    def mount(self, origin: Callable[[], str]) -> FakeShopifyOAuth:
        """Served by another server (FakeShopify) whose origin `origin()` gives."""
        self._origin = origin
        return self

    def handles(self, path: str) -> bool:
        return "/admin/oauth/" in urlsplit(path).path

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.grants.clear()
            self.codes.clear()
            self.uninstalled.clear()
        self.access_ttl, self.refresh_ttl = 3600, 90 * 24 * 3600
        self.refresh_delay = self.exchange_delay = 0.0
        self.fail_with_status = None

    @property
    def origin(self) -> str:
        assert self._origin is not None, "mount() the OAuth fake on a FakeShopify first"
        return self._origin()

    @property
    def base_url(self) -> str:
        """The SHOPIFY_ADMIN_BASE_URL template for the app's config."""
        return self.origin + "/{shop}"

    # ------------------------------------------------------------------ test helpers

    def grant_requests(self, grant: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r["grant"] == grant]

    def issue(self, shop_domain: str) -> ShopGrant:
        """Issue a token pair as if the shop had installed (for tests that seed a shop directly)."""
        with self._lock:
            return self._issue(shop_domain, expiring=True)

    def expire_refresh_token(self, shop_domain: str) -> None:
        with self._lock:
            self.grants[shop_domain].refresh_expires_at = time.time() - 1

    def uninstall(self, shop_domain: str) -> None:
        with self._lock:
            self.uninstalled.add(shop_domain)
            self.grants.pop(shop_domain, None)

    def sign(self, params: dict[str, str]) -> str:
        """Shopify's query HMAC: sorted pairs, URL-encoded (spaces as %20), without hmac/signature.

        Written apart from posai_app's verifier; tests/shopify_contract/test_hmac_vectors.py
        checks it against signatures computed by Shopify's own Node library.
        """
        signed = sorted((k, v) for k, v in params.items() if k not in ("hmac", "signature"))
        # As shopify-api-js does: form-encode (space -> "+"), then "+" -> "%20"; "~" is encoded too.
        message = urlencode(signed, safe="*").replace("+", "%20").replace("~", "%7E")
        return hmac.new(self.api_secret.encode(), message.encode(), hashlib.sha256).hexdigest()

    # ------------------------------------------------------------------ handlers

    def _issue(self, shop_domain: str, *, expiring: bool) -> ShopGrant:
        grant = ShopGrant(
            access_token="shpat_" + secrets.token_hex(16),
            refresh_token=("shprt_" + secrets.token_hex(16)) if expiring else None,
            refresh_expires_at=time.time() + self.refresh_ttl if expiring else None,
            scope=self.scope,
        )
        self.grants[shop_domain] = grant
        return grant

    def _token_body(self, grant: ShopGrant) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": grant.access_token, "scope": grant.scope}
        if grant.refresh_token:
            body.update(
                expires_in=self.access_ttl,
                refresh_token=grant.refresh_token,
                refresh_token_expires_in=self.refresh_ttl,
            )
        return body

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _shop_and_path(self, handler: BaseHTTPRequestHandler) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(handler.path)
        shop, _, rest = parts.path.lstrip("/").partition("/")
        return shop, "/" + rest, parse_qs(parts.query)

    def _handle_post(self, handler: BaseHTTPRequestHandler) -> None:
        shop, path, _ = self._shop_and_path(handler)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if path != "/admin/oauth/access_token":
            return self._reply(handler, 404, {"errors": "Not Found"})
        if "json" in (handler.headers.get("Content-Type") or ""):
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        grant_type = params.get("grant_type") or ("authorization_code" if "code" in params else "")
        record = {
            "grant": {TOKEN_EXCHANGE: "token_exchange"}.get(grant_type, grant_type),
            "shop": shop,
            "params": params,
            "content_type": handler.headers.get("Content-Type"),
        }
        with self._lock:
            self.requests.append(record)
        if self.fail_with_status:
            return self._reply(handler, self.fail_with_status, {"errors": "Service unavailable"})
        if params.get("client_id") != self.api_key or params.get("client_secret") != self.api_secret:
            return self._reply(handler, 401, {"error": "invalid_client"})
        if record["grant"] == "token_exchange":
            return self._token_exchange(handler, shop, params)
        if grant_type == "refresh_token":
            return self._refresh(handler, shop, params)
        if grant_type == "authorization_code":
            return self._code(handler, shop, params)
        return self._reply(handler, 400, {"error": "unsupported_grant_type"})

    def _token_exchange(self, handler: BaseHTTPRequestHandler, shop: str, params: dict[str, Any]) -> None:
        if self.exchange_delay:
            time.sleep(self.exchange_delay)
        if (
            params.get("subject_token_type") != ID_TOKEN_TYPE
            or params.get("requested_token_type") != OFFLINE_TOKEN_TYPE
        ):
            return self._reply(handler, 400, {"error": "invalid_request"})
        try:
            claims = jwt.decode(
                params.get("subject_token", ""), self.api_secret, algorithms=["HS256"], audience=self.api_key
            )
        except jwt.PyJWTError:
            claims = None
        if claims is None or claims.get("dest") != f"https://{shop}" or shop in self.uninstalled:
            return self._reply(
                handler,
                400,
                {"error": "invalid_subject_token", "error_description": "The subject token is invalid"},
            )
        with self._lock:
            grant = self._issue(shop, expiring=str(params.get("expiring", "0")) == "1")
        return self._reply(handler, 200, self._token_body(grant))

    def _refresh(self, handler: BaseHTTPRequestHandler, shop: str, params: dict[str, Any]) -> None:
        if self.refresh_delay:
            time.sleep(self.refresh_delay)
        with self._lock:
            grant = self.grants.get(shop)
            valid = (
                grant is not None
                and grant.refresh_token is not None
                and hmac.compare_digest(grant.refresh_token, str(params.get("refresh_token", "")))
                and (grant.refresh_expires_at or 0) > time.time()
            )
            if valid:
                grant = self._issue(shop, expiring=True)  # rotates both tokens
        if not valid:
            return self._reply(
                handler,
                400,
                {"error": "invalid_grant", "error_description": "The refresh token is invalid or expired"},
            )
        return self._reply(handler, 200, self._token_body(grant))

    def _code(self, handler: BaseHTTPRequestHandler, shop: str, params: dict[str, Any]) -> None:
        with self._lock:
            entry = self.codes.get(str(params.get("code", "")))
            usable = entry is not None and entry["shop"] == shop and not entry["used"]
            if usable:
                entry["used"] = True
                grant = self._issue(shop, expiring=str(params.get("expiring", "0")) == "1")
        if not usable:
            return self._reply(
                handler,
                400,
                {
                    "error": "invalid_request",
                    "error_description": "The authorization code was not found or was already used",
                },
            )
        return self._reply(handler, 200, self._token_body(grant))

    def _handle_get(self, handler: BaseHTTPRequestHandler) -> None:
        shop, path, query = self._shop_and_path(handler)
        if path != "/admin/oauth/authorize":
            return self._reply(handler, 404, {"errors": "Not Found"})
        args = {k: v[0] for k, v in query.items()}
        with self._lock:
            self.requests.append({"grant": "authorize", "shop": shop, "params": args})
        if args.get("client_id") != self.api_key or not args.get("redirect_uri"):
            return self._reply(handler, 400, {"errors": "Invalid client or redirect_uri"})
        code = secrets.token_hex(16)
        with self._lock:
            self.codes[code] = {"shop": shop, "used": False, "scope": args.get("scope")}
        # Standard base64, padding kept: Shopify's `host` usually ends in "=".
        host = base64.b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode()
        callback = {
            "code": code,
            "host": host,
            "shop": shop,
            "state": args.get("state", ""),
            "timestamp": str(int(time.time())),
        }
        callback["hmac"] = self.sign(callback)
        handler.send_response(302)
        handler.send_header("Location", args["redirect_uri"] + "?" + urlencode(callback))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

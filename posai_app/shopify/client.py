"""The GraphQL Admin API client: the only code that sends requests to a shop's Admin API.

- Pinned API version from config (`SHOPIFY_API_VERSION`, defined in shopify.version), the
  shop's offline token, refreshed once through the auth module on a 401. An answer served
  at another version (`X-Shopify-API-Version`; Shopify serves a retired version's requests
  as the oldest supported one) is logged as a warning.
- Cost-based throttling: every response's `extensions.cost.throttleStatus` is remembered,
  and before a request the client waits until the leaky bucket has refilled enough for
  that operation's cost, so it does not send requests Shopify would reject. A `THROTTLED`
  answer anyway (another app process shares the bucket) waits out the refill and retries.
- HTTP 429 honours `Retry-After`; 5xx and network errors back off exponentially with
  jitter. All retries are bounded; after that a `ShopifyTransientError` (retry later, e.g.
  by RQ's `Retry`) is raised. GraphQL `errors` and mutation `userErrors` raise with
  Shopify's messages.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

USER_AGENT = "posai-app (+https://posai.app)"


class ShopifyError(Exception):
    """A request to Shopify failed; `retriable` says whether trying later can help."""

    retriable = False


class ShopifyTransientError(ShopifyError):
    """Shopify was unavailable, slow or rate-limited beyond our retry budget: retry later."""

    retriable = True


class BulkFileGone(ShopifyError):
    """A bulk operation's result file is no longer downloadable (its signed URL expired)."""


class ShopifyAuthError(ShopifyError):
    """The shop's token was rejected even after a refresh (app uninstalled or scopes revoked)."""


class ShopifyGraphQLError(ShopifyError):
    """The query itself failed (`errors` in the response)."""

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or []

    @property
    def codes(self) -> set[str]:
        return {str((e.get("extensions") or {}).get("code")) for e in self.errors}


class ShopifyUserError(ShopifyError):
    """A mutation answered with `userErrors`."""

    def __init__(self, message: str, user_errors: list[dict]):
        super().__init__(message)
        self.user_errors = user_errors


@dataclass
class _Bucket:
    available: float
    maximum: float
    restore_rate: float
    observed_at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + self.restore_rate * max(0.0, now - self.observed_at))


class AdminClient:
    """GraphQL Admin API client for one shop (not shared between threads)."""

    def __init__(
        self,
        shop_domain: str,
        access_token: str,
        *,
        url: str,
        token_refresher: Callable[[str], str] | None = None,
        max_attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_throttle_waits: int = 20,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        http: httpx.Client | None = None,
        api_version: str | None = None,
    ):
        self.shop_domain = shop_domain
        self.url = url
        self.api_version = api_version or _version_in_url(url)
        self.served_version: str | None = None
        self._token = access_token
        self._refresher = token_refresher
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_throttle_waits = max_throttle_waits
        self._sleep = sleep
        self._clock = clock
        self._http = http or httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._owns_http = http is None
        self._bucket: _Bucket | None = None
        self._costs: dict[str, float] = {}
        self._lock = threading.Lock()
        self.requests_sent = 0
        self.throttle_wait_seconds = 0.0

    # ------------------------------------------------------------ public

    def execute(self, query: str, variables: dict[str, Any] | None = None, *, operation: str) -> dict:
        """Run a query or mutation and return its `data`; raises ShopifyError subclasses."""
        attempts = 0
        throttle_waits = 0
        refreshed = False
        body = {"query": query, "variables": variables or {}, "operationName": operation}
        while True:
            self._wait_for_budget(operation)
            try:
                response = self._http.post(
                    self.url,
                    json=body,
                    headers={"X-Shopify-Access-Token": self._token, "Accept": "application/json"},
                )
            except httpx.TransportError as exc:
                attempts += 1
                self._backoff_or_raise(attempts, f"network error: {exc.__class__.__name__}: {exc}")
                continue
            finally:
                self.requests_sent += 1
            status = response.status_code
            self._note_served_version(response)
            if status == 401 and self._refresher is not None and not refreshed:
                refreshed = True
                self._token = self._refresher(self._token)
                continue
            if status in (401, 403):
                raise ShopifyAuthError(
                    f"{self.shop_domain}: HTTP {status} from the Admin API: {_snippet(response)}"
                )
            if status == 429:
                attempts += 1
                if attempts >= self.max_attempts:
                    raise ShopifyTransientError(
                        f"{self.shop_domain}: rate limited (HTTP 429) {attempts} times"
                    )
                self._pause(_retry_after(response, self._backoff_delay(attempts)))
                continue
            if status >= 500:
                attempts += 1
                self._backoff_or_raise(attempts, f"HTTP {status}: {_snippet(response)}")
                continue
            if status >= 400:
                raise ShopifyError(
                    f"{self.shop_domain}: HTTP {status} from the Admin API: {_snippet(response)}"
                )
            try:
                payload = response.json()
            except ValueError:
                attempts += 1
                self._backoff_or_raise(attempts, "response was not JSON")
                continue
            cost = (payload.get("extensions") or {}).get("cost")
            self._observe_cost(operation, cost)
            errors = payload.get("errors")
            if errors:
                if _is_throttled(errors):
                    throttle_waits += 1
                    if throttle_waits > self.max_throttle_waits:
                        raise ShopifyTransientError(
                            f"{self.shop_domain}: still THROTTLED after {throttle_waits} waits"
                        )
                    self._wait_after_throttle(operation, cost)
                    continue
                raise ShopifyGraphQLError(_error_message(self.shop_domain, operation, errors), errors)
            return payload.get("data") or {}

    def stream_lines(self, url: str) -> Iterator[str]:
        """Lines of a file Shopify hands out by URL (a bulk operation's JSONL), streamed.

        The URL is pre-signed storage, not the Admin API: no token is sent.
        """
        try:
            with self._http.stream("GET", url, timeout=httpx.Timeout(60.0, read=300.0)) as response:
                if response.status_code >= 500 or response.status_code == 429:
                    raise ShopifyTransientError(f"download failed: HTTP {response.status_code}")
                if response.status_code in (403, 404, 410):
                    raise BulkFileGone(f"download failed: HTTP {response.status_code} (link expired?)")
                if response.status_code >= 400:
                    raise ShopifyError(f"download failed: HTTP {response.status_code}")
                yield from _lines(response.iter_bytes(1 << 20))
        except httpx.TransportError as exc:
            # Lines already yielded cannot be taken back, so no retry here: the caller
            # resumes from the line count it committed.
            raise ShopifyTransientError(f"download interrupted: {exc.__class__.__name__}: {exc}") from exc

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ version

    def _note_served_version(self, response: httpx.Response) -> None:
        """Warn (once per client) when Shopify answers at a version other than the one asked for."""
        served = response.headers.get("X-Shopify-API-Version")
        if not served or served == self.served_version:
            return
        self.served_version = served
        if self.api_version and served != self.api_version:
            log.warning(
                "shopify %s: asked for Admin API %s, Shopify answered with %s (X-Shopify-API-Version); "
                "the pinned version is retired or unknown: move SHOPIFY_API_VERSION to a supported one",
                self.shop_domain,
                self.api_version,
                served,
            )

    # ------------------------------------------------------------ throttling

    def _observe_cost(self, operation: str, cost: dict | None) -> None:
        if not cost:
            return
        requested = cost.get("requestedQueryCost")
        if requested is not None:
            self._costs[operation] = float(requested)
        throttle = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in throttle:
            self._bucket = _Bucket(
                available=float(throttle["currentlyAvailable"]),
                maximum=float(throttle.get("maximumAvailable") or throttle["currentlyAvailable"]),
                restore_rate=float(throttle.get("restoreRate") or 50.0),
                observed_at=self._clock(),
            )

    def _estimated_cost(self, operation: str) -> float:
        if operation in self._costs:
            return self._costs[operation]
        return max(self._costs.values(), default=0.0)

    def _wait_for_budget(self, operation: str) -> None:
        bucket = self._bucket
        if bucket is None:
            return
        # A small margin: our clock starts when the response arrived, Shopify's a little earlier.
        needed = min(bucket.maximum, self._estimated_cost(operation) * 1.02 + 1.0)
        available = bucket.available_at(self._clock())
        if available >= needed:
            return
        self._pause((needed - available) / bucket.restore_rate)

    def _wait_after_throttle(self, operation: str, cost: dict | None) -> None:
        bucket = self._bucket
        requested = self._estimated_cost(operation) or 50.0
        if bucket is None:
            self._pause(1.0)
            return
        deficit = max(1.0, min(bucket.maximum, requested * 1.02 + 1.0) - bucket.available_at(self._clock()))
        self._pause(deficit / bucket.restore_rate)

    # ------------------------------------------------------------ backoff

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311  (jitter, not crypto)

    def _backoff_or_raise(self, attempts: int, reason: str) -> None:
        if attempts >= self.max_attempts:
            raise ShopifyTransientError(f"{self.shop_domain}: {reason} (gave up after {attempts} attempts)")
        delay = self._backoff_delay(attempts)
        log.info("shopify %s: %s; retrying in %.2fs", self.shop_domain, reason, delay)
        self._pause(delay)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.throttle_wait_seconds += seconds
            self._sleep(seconds)


def raise_for_user_errors(result: dict | None, operation: str) -> dict:
    """Return a mutation's result, or raise ShopifyUserError if it carries userErrors."""
    result = result or {}
    user_errors = result.get("userErrors") or []
    if user_errors:
        text = "; ".join(f"{'.'.join(e.get('field') or []) or '-'}: {e.get('message')}" for e in user_errors)
        raise ShopifyUserError(f"{operation} failed: {text}", user_errors)
    return result


def _version_in_url(url: str) -> str | None:
    match = re.search(r"/admin/api/([^/]+)/graphql\.json", url)
    return match.group(1) if match else None


def _is_throttled(errors: list[dict]) -> bool:
    return any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors)


def _error_message(shop_domain: str, operation: str, errors: list[dict]) -> str:
    messages = "; ".join(str(e.get("message")) for e in errors[:5])
    return f"{shop_domain}: {operation} failed: {messages}"


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("Retry-After")
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else default
    except ValueError:
        return default


def _snippet(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


def client_for_shop(shop_id: int) -> AdminClient:
    """An AdminClient for an installed shop, with its offline token and the auth module's refresher."""
    from flask import current_app

    from posai_app.errors import NotFound
    from posai_app.extensions import db
    from posai_app.models import Shop
    from posai_app.shopify.urls import admin_graphql_url

    shop = db.session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id} not found")
    token, refresher = _token_functions(shop)
    config = current_app.config
    return AdminClient(
        shop.domain,
        token,
        url=admin_graphql_url(shop.domain),
        api_version=config["SHOPIFY_API_VERSION"],
        token_refresher=refresher,
        max_attempts=int(config.get("SHOPIFY_CLIENT_MAX_ATTEMPTS", 6)),
        backoff_base=float(config.get("SHOPIFY_CLIENT_BACKOFF_BASE", 0.5)),
    )


def _token_functions(shop) -> tuple[str, Callable[[str], str] | None]:
    from posai_app.auth.tokens import get_access_token, refresh_access_token

    shop_id = shop.id

    def refresh(stale: str) -> str:
        return refresh_access_token(shop_id, stale)

    return get_access_token(shop_id), refresh


def _lines(chunks: Iterator[bytes]) -> Iterator[str]:
    """The text lines of a byte stream split on "\\n" (a trailing "\\r" dropped), decoded as UTF-8.

    A JSONL line holds no raw newline (JSON escapes them in strings), so splitting the bytes
    is exact, and much cheaper per line than httpx's text decoder and line splitter.
    """
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        parts = (rest + chunk).split(b"\n") if rest else chunk.split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield (part[:-1] if part.endswith(b"\r") else part).decode("utf-8", "replace")
    if rest:
        yield (rest[:-1] if rest.endswith(b"\r") else rest).decode("utf-8", "replace")

"""Change signals: how every web process learns that its cached copy of a shop's data is stale.

The request path keeps per-process copies of what every POS request reads (the shop's
install state and settings, its catalog rows, its neighbour index) so that a cart is
answered without SQL. Whatever changes those rows calls `touch(shop_id, kind)` inside its
transaction; the signal goes out only after the transaction commits, so a process that
reloads on seeing it finds the new rows. A model names the kinds its rows raise in its
`__signals__` attribute: ORM inserts, updates and deletes of such rows are touched
automatically at flush; code that writes with Core bulk statements (ingestion upserts,
stock updates, shop deletion, index publishing) touches explicitly.

A signal is a random token per (shop, kind) in the Redis hash `posai:signals:{shop_id}` when
REDIS_URL is set (shared by every web and worker machine), else in this process (the
embedded default). A cached value is stamped with the token read *before* it was loaded and
is used only while the token is unchanged. Each process re-reads a shop's tokens at most
every SERVING_CACHE_CHECK_INTERVAL seconds (0.25 s by default, far below Shopify's webhook
delays), and drops anything older than SERVING_CACHE_MAX_AGE seconds whatever the tokens say:
that bounds staleness if a signal is lost (Redis unreachable at commit) or, without Redis,
when another process made the change. When Redis cannot be read, a process serves what it
has cached for at most DEGRADED_MAX_AGE seconds (the embedded default's rule) and then
reloads, so an outage neither serves stale data for long nor reloads the index per request;
its own changes still drop its copies at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app

from posai_app import metrics

log = logging.getLogger(__name__)

KINDS = ("shop", "catalog", "model", "orders", "pins")
REDIS_PREFIX = "posai:signals:"
REDIS_RETRY_SECONDS = 1.0  # after a failed read, don't try Redis again on the request path for this long
DEGRADED_MAX_AGE = 2.0  # while the signals cannot be read: how long a cached value may be served
# The stamp of values loaded while the signals could not be read (no real token equals it).
DEGRADED = "posai:signals-unreadable"
_PENDING = "posai_signals_pending"
_OWNER = "posai_signals"

T = TypeVar("T")


class Signals:
    """One app's signal board: publish after commit, read with a per-shop check interval."""

    def __init__(self, redis: Any | None, check_interval: float, max_age: float):
        self.redis = redis
        self.check_interval = check_interval
        self.max_age = max_age
        self._local: dict[int, dict[str, str]] = {}  # the board itself when there is no Redis
        self._seen: dict[int, tuple[float, dict[str, str | None]]] = {}
        self._redis_down_until = 0.0
        self._lock = threading.Lock()
        self._caches: dict[str, ShopCache] = {}

    # ---------------------------------------------------------------- reading

    def token(self, shop_id: int, kind: str) -> str | None | bool:
        """The current token of (shop, kind); False when it cannot be known (Redis unreadable)."""
        now = time.monotonic()
        seen = self._seen.get(shop_id)
        if seen is not None and now - seen[0] < self.check_interval:
            return seen[1].get(kind)
        tokens = self._read(shop_id)
        if tokens is None:
            return False
        with self._lock:
            self._seen[shop_id] = (now, tokens)
            if len(self._seen) > 10_000:
                self._seen.clear()
        return tokens.get(kind)

    def _read(self, shop_id: int) -> dict[str, str | None] | None:
        if self.redis is None:
            return dict(self._local.get(shop_id, {}))
        if time.monotonic() < self._redis_down_until:
            return None
        try:
            values = self.redis.hmget(REDIS_PREFIX + str(shop_id), KINDS)
        except Exception as exc:  # the request must not fail because a cache cannot be checked
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("cache signals unreadable (%s): serving from the database", exc.__class__.__name__)
            return None
        return {
            kind: (v.decode() if isinstance(v, bytes) else v) for kind, v in zip(KINDS, values, strict=True)
        }

    # ---------------------------------------------------------------- writing

    def publish(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Give each (shop, kind) a new token, here at once and (with Redis) for every process."""
        by_shop: dict[int, dict[str, str]] = {}
        for shop_id, kind in pairs:
            by_shop.setdefault(int(shop_id), {})[kind] = uuid.uuid4().hex
        if not by_shop:
            return
        if self.redis is not None:
            try:
                with self.redis.pipeline(transaction=False) as pipe:
                    for shop_id, fresh in by_shop.items():
                        pipe.hset(REDIS_PREFIX + str(shop_id), mapping=fresh)
                    pipe.execute()
            except Exception:
                log.exception(
                    "could not publish cache signals for shops %s: other processes may serve stale data "
                    "for up to %s s",
                    sorted(by_shop),
                    self.max_age,
                )
                for shop_id in by_shop:  # this process at least must not serve what it just changed
                    self.forget(shop_id)
        with self._lock:
            for shop_id, fresh in by_shop.items():
                if self.redis is None:
                    self._local.setdefault(shop_id, {}).update(fresh)
                self._seen.pop(shop_id, None)  # after the write: the next read here sees the new token

    # ---------------------------------------------------------------- caches

    def cache(self, name: str, kind: str | tuple[str, ...], max_shops: int, **bounds) -> ShopCache:
        """This app's per-process cache called `name`, invalidated by signals of `kind` (`bounds`:
        ShopCache's max_bytes and size_of, fixed when the cache is first made)."""
        cache = self._caches.get(name)
        if cache is None:
            with self._lock:
                cache = self._caches.setdefault(name, ShopCache(self, kind, max_shops, name, **bounds))
        return cache

    def forget(self, shop_id: int | None = None) -> None:
        """Drop this process's cached values (one shop or all); other processes are not told."""
        with self._lock:
            if shop_id is None:
                self._seen.clear()
            else:
                self._seen.pop(shop_id, None)
            caches = list(self._caches.values())
        for cache in caches:
            cache.forget(shop_id)


class ShopCache(Generic[T]):
    """Per-shop values, least recently used first out, each stamped with the token it was loaded under.

    `kind` is one signal kind, or a tuple of kinds when a value depends on several (any of
    them changing makes it stale).
    """

    def __init__(
        self,
        signals: Signals,
        kind: str | tuple[str, ...],
        max_shops: int,
        name: str = "",
        *,
        max_bytes: int | None = None,
        size_of: Callable[[T], int] | None = None,
    ):
        self.signals, self.kind, self.max_shops, self.name = signals, kind, max_shops, name
        # A byte budget (with `size_of`, a value's approximate size): most shops are small, so a
        # count alone either wastes the memory or lets a few big shops' values take gigabytes.
        self.max_bytes, self.size_of = max_bytes, size_of
        self._hits, self._misses = metrics.cache_counters(name)
        self._entries: OrderedDict[int, tuple[str | None, float, T]] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self.total_bytes = 0
        self._lock = threading.Lock()

    def get_or_load(self, shop_id: int, load: Callable[[T | None], T]) -> T:
        """The cached value while its token holds; else `load(previous value or None)`, then cached."""
        token = self._token(shop_id)
        fresh = self._fresh(shop_id, token)
        (self._misses if fresh is None else self._hits).inc()
        if fresh is not None:
            return fresh[2]
        now = time.monotonic()
        entry = self._entries.get(shop_id)
        value = load(entry[2] if entry is not None else None)
        self.put(shop_id, token, value, now)
        return value

    def peek(self, shop_id: int) -> tuple[str | None | bool, T | None, float | None]:
        """(current token, value cached under it or None, when that value was first loaded).

        For caches filled piece by piece: put the grown value back with the same loaded_at.
        """
        token = self._token(shop_id)
        fresh = self._fresh(shop_id, token)
        (self._misses if fresh is None else self._hits).inc()
        return (token, None, None) if fresh is None else (token, fresh[2], fresh[1])

    def _token(self, shop_id: int) -> str | None:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        tokens = [self.signals.token(shop_id, kind) for kind in kinds]
        if any(token is False for token in tokens):
            return DEGRADED
        return tokens[0] if len(tokens) == 1 else "|".join(str(token) for token in tokens)

    def _fresh(self, shop_id: int, token: str | None) -> tuple[str | None, float, T] | None:
        """The entry if it was loaded under `token` and is younger than max age (marked recently used).

        While the signals cannot be read (DEGRADED), any entry younger than DEGRADED_MAX_AGE serves.
        """
        entry = self._entries.get(shop_id)
        if entry is None:
            return None
        age = time.monotonic() - entry[1]
        if token == DEGRADED:
            if age >= min(DEGRADED_MAX_AGE, self.signals.max_age):
                return None
        elif entry[0] != token or age >= self.signals.max_age:
            return None
        with self._lock:
            if shop_id in self._entries:
                self._entries.move_to_end(shop_id)
        return entry

    def put(self, shop_id: int, token: str | None, value: T, loaded_at: float | None = None) -> None:
        size = self.size_of(value) if self.size_of is not None else 0
        with self._lock:
            self._entries[shop_id] = (token, time.monotonic() if loaded_at is None else loaded_at, value)
            self._entries.move_to_end(shop_id)
            self.total_bytes += size - self._sizes.get(shop_id, 0)
            self._sizes[shop_id] = size
            # Least recently used out, down to both bounds; the value just put always stays.
            while len(self._entries) > 1 and (
                len(self._entries) > self.max_shops
                or (self.max_bytes is not None and self.total_bytes > self.max_bytes)
            ):
                evicted, _ = self._entries.popitem(last=False)
                self.total_bytes -= self._sizes.pop(evicted, 0)

    def forget(self, shop_id: int | None = None) -> None:
        with self._lock:
            if shop_id is None:
                self._entries.clear()
                self._sizes.clear()
                self.total_bytes = 0
            else:
                self._entries.pop(shop_id, None)
                self.total_bytes -= self._sizes.pop(shop_id, 0)


# -------------------------------------------------------------------- app wiring


def init_app(app: Flask) -> None:
    redis = None
    if app.config.get("REDIS_URL"):
        from redis import Redis

        # Its own client with short timeouts: a Redis that hangs must not hang POS requests or commits.
        redis = Redis.from_url(app.config["REDIS_URL"], socket_timeout=0.2, socket_connect_timeout=0.2)
    interval = app.config.get("SERVING_CACHE_CHECK_INTERVAL")
    max_age = app.config.get("SERVING_CACHE_MAX_AGE")
    app.extensions[_OWNER] = Signals(
        redis,
        check_interval=float(interval if interval is not None else 0.25),
        max_age=float(max_age if max_age is not None else (300.0 if redis is not None else 2.0)),
    )
    _listen_once()


def signals() -> Signals:
    return current_app.extensions[_OWNER]


def shop_cache(name: str, kind: str | tuple[str, ...], max_shops: int, **bounds) -> ShopCache:
    return signals().cache(name, kind, max_shops, **bounds)


def forget(shop_id: int | None = None, app: Flask | None = None) -> None:
    """Drop this process's cached values for one shop or all (tests; operations never need it)."""
    (app or current_app).extensions[_OWNER].forget(shop_id)


def touch(shop_id: int, *kinds: str, session: Any = None) -> None:
    """Mark (shop, kind) changed in the current transaction; published when it commits."""
    from posai_app.extensions import db

    session = session if session is not None else db.session()
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown signal kinds: {sorted(unknown)}")
    session.info.setdefault(_OWNER, signals())
    session.info.setdefault(_PENDING, set()).update((int(shop_id), k) for k in (kinds or KINDS))


def _after_flush(session, _context) -> None:
    """Collect the signals of flushed rows whose model names some in `__signals__`."""
    pending: set[tuple[int, str]] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        kinds = getattr(type(obj), "__signals__", None)
        if not kinds:
            continue
        shop_id = getattr(obj, "shop_id", None)
        if shop_id is None and getattr(type(obj), "__tablename__", None) == "shops":
            if obj in session.deleted or obj in session.new:
                # A new shop may reuse a deleted one's id (SQLite): nothing cached under it is its own.
                pending.update((obj.id, k) for k in KINDS)
                continue
            shop_id = obj.id
        if shop_id is None or (obj in session.dirty and not session.is_modified(obj)):
            continue
        pending.update((shop_id, k) for k in kinds)
    if pending:
        try:
            owner = current_app.extensions[_OWNER]
        except (RuntimeError, KeyError):  # no app (plain scripts): nothing caches here
            return
        session.info.setdefault(_OWNER, owner)
        session.info.setdefault(_PENDING, set()).update(pending)


def _after_commit(session) -> None:
    pending = session.info.pop(_PENDING, None)
    owner = session.info.get(_OWNER)
    if pending and owner is not None:
        owner.publish(pending)


def _listen_once() -> None:
    from sqlalchemy.orm import Session

    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "after_commit", _after_commit)

"""Per-process cache of each shop's serving indexes, champion and challenger (posai_app.serving.store
loads both in one read).

Training publishes a new index and raises the shop's "model" change signal
(posai_app.cache_signals) when it commits. A request uses the cached index while that signal
holds; when it changes, the process re-reads the config row and reloads the index only if
(model_version, trained_at) moved, so a reader sees either the old index or the new one,
never a mix. No per-request aggregation happens in SQL.
"""

from __future__ import annotations

from flask import current_app

from posai_app.cache_signals import shop_cache
from posai_app.serving import store
from posai_app.serving.store import ServingIndex

# Bounded by memory first: a 20,000-variant shop's indexes take ≈ 15 MB, a typical small shop's a
# few kB, so a count alone (64, before) let big shops take a gigabyte per process while a thousand
# small shops missed the cache (bench/thousand_shops.py). SERVING_CACHE_MAX_MB sets the budget.
MAX_CACHED_SHOPS = 10_000
DEFAULT_MAX_MB = 128


def index_bytes(state: ServingIndex) -> int:
    """A cached ServingIndex's approximate size: both arms' indexes and the bestsellers."""
    size = 200 + 120 * len(state.bestsellers)
    for index in (state.index, state.challenger.index if state.challenger else None):
        size += index.approx_bytes() if index is not None else 0
    return size


def serving_state(shop_id: int) -> ServingIndex:
    """The shop's current index (reused while its "model" signal holds, else checked and reloaded)."""

    def load(previous: ServingIndex | None) -> ServingIndex:
        if previous is not None and (previous.version, previous.metric) == store.published_version(shop_id):
            return previous
        # Version and arms read in one statement: a retrain committing in between cannot label
        # its index with the version before it (recommendation ids carry the version).
        return store.load(shop_id)

    budget = current_app.config.get("SERVING_CACHE_MAX_MB") or DEFAULT_MAX_MB
    cache = shop_cache(
        "serving", "model", MAX_CACHED_SHOPS, max_bytes=int(budget * 1024 * 1024), size_of=index_bytes
    )
    return cache.get_or_load(shop_id, load)

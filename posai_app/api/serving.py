"""Per-process cache of each shop's serving indexes, champion and challenger (posai_app.serving.store
loads both in one read).

Training publishes a new index and raises the shop's "model" change signal
(posai_app.cache_signals) when it commits. A request uses the cached index while that signal
holds; when it changes, the process re-reads the config row and reloads the index only if
(model_version, trained_at) moved, so a reader sees either the old index or the new one,
never a mix. No per-request aggregation happens in SQL.
"""

from __future__ import annotations

from posai_app.cache_signals import shop_cache
from posai_app.serving import store
from posai_app.serving.store import ServingIndex

MAX_CACHED_SHOPS = 64


def serving_state(shop_id: int) -> ServingIndex:
    """The shop's current index (reused while its "model" signal holds, else checked and reloaded)."""

    def load(previous: ServingIndex | None) -> ServingIndex:
        version, metric = store.published_version(shop_id)
        if previous is not None and previous.version == version and previous.metric == metric:
            return previous
        return store.load(shop_id, version, metric)

    return shop_cache("serving", "model", MAX_CACHED_SHOPS).get_or_load(shop_id, load)

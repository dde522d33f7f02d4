"""With Redis unreadable, the request path serves from a bounded local cache (issue: hardening):
no reload of the index per request, and other processes' changes show within DEGRADED_MAX_AGE."""

from __future__ import annotations

import time

from posai_app import cache_signals
from posai_app.ingest.products import set_inventory_quantity
from tests.api.test_request_caches import commit_in, counting_statements, recommended

NOTHING_LISTENS = "redis://127.0.0.1:1/0"


def test_warm_requests_run_no_sql_while_redis_is_unreadable(make_app, small_shop, auth_headers):
    web = make_app(REDIS_URL=NOTHING_LISTENS)
    headers = auth_headers(small_shop)
    client = web.test_client()
    assert recommended(client, headers, ["1002"])[0] == "1003"
    with counting_statements(web) as statements:
        for _ in range(5):
            assert recommended(client, headers, ["1002"])[0] == "1003"
    assert statements == []


def test_other_processes_changes_show_after_the_degraded_max_age(
    make_app, small_shop, auth_headers, monkeypatch
):
    monkeypatch.setattr(cache_signals, "DEGRADED_MAX_AGE", 0.3)
    web_a = make_app(REDIS_URL=NOTHING_LISTENS)
    web_b = make_app(REDIS_URL=NOTHING_LISTENS)
    headers = auth_headers(small_shop)
    client_a = web_a.test_client()
    assert recommended(client_a, headers, ["1002"])[0] == "1003"
    commit_in(web_b, lambda: set_inventory_quantity(small_shop.id, 1003, 0))
    time.sleep(0.35)
    assert "1003" not in recommended(client_a, headers, ["1002"])

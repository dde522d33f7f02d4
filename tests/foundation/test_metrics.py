"""GET /metrics (issue #19): Prometheus text format, parsed with prometheus_client's own parser,
so what Prometheus would read is what is asserted. Queue and job figures come from a real Redis
and a real RQ worker (worker.py) in burst mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from posai_app import create_app
from posai_app.metrics import JOB_BUCKETS, job_histograms, record_job
from tests.conftest import database_url
from tests.deploy.packaging import ROOT
from tests.foundation.test_health_and_config import PRODUCTION_SETTINGS


def _samples(response) -> dict[tuple[str, tuple], float]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def _value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_request_latency_is_counted_by_route_not_by_path(client):
    before = _samples(client.get("/metrics"))
    key = {"route": "/healthz", "method": "GET", "status": "200"}
    counted = _value(before, "posai_http_request_duration_seconds_count", **key) or 0
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page-123")
    client.get("/no-such-page-456")
    after = _samples(client.get("/metrics"))
    assert _value(after, "posai_http_request_duration_seconds_count", **key) == counted + 2
    # an unknown path is one series, whatever the path: no label per scanner's guess
    assert _value(
        after, "posai_http_request_duration_seconds_count", route="unmatched", method="GET", status="404"
    )
    assert not [name for name, labels in after if "no-such-page" in str(labels)]


def test_a_token_guards_the_figures(make_app):
    app = make_app(POSAI_METRICS_TOKEN="s3cret-metrics")
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-metrics"}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"}).status_code == 200


def test_production_serves_no_metrics_without_a_token(monkeypatch):
    monkeypatch.setenv("POSAI_ENV", "production")
    monkeypatch.delenv("POSAI_METRICS_TOKEN", raising=False)
    client = create_app(PRODUCTION_SETTINGS).test_client()
    answer = client.get("/metrics", headers={"Accept": "text/plain"})
    assert answer.status_code == 404
    assert "POSAI_METRICS_TOKEN" in answer.get_json()["error"]["message"]
    monkeypatch.setenv("POSAI_METRICS_TOKEN", "t0ken")
    client = create_app(PRODUCTION_SETTINGS).test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer t0ken"}).status_code == 200


def test_cache_lookups_count_hits_and_misses(app, client):
    from posai_app.cache_signals import shop_cache

    with app.app_context():
        cache = shop_cache("metrics-test", "model", 4)
        cache.get_or_load(1, lambda _previous: "loaded")  # miss
        cache.get_or_load(1, lambda _previous: "loaded again")  # hit
        cache.get_or_load(1, lambda _previous: "loaded again")  # hit
    samples = _samples(client.get("/metrics"))
    assert _value(samples, "posai_cache_lookups_total", cache="metrics-test", result="miss") == 1
    assert _value(samples, "posai_cache_lookups_total", cache="metrics-test", result="hit") == 2


def test_job_histogram_buckets_are_cumulative():
    class FakeRedisPipe(dict):
        """Just enough of a Redis pipeline (hincrby, hincrbyfloat) to collect the fields."""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def hincrby(self, _key, field, amount):
            self[field] = self.get(field, 0) + amount

        hincrbyfloat = hincrby

        def execute(self):
            pass

    class FakeRedis:
        pipe = FakeRedisPipe()

        def pipeline(self, transaction=True):
            return self.pipe

    redis = FakeRedis()
    for seconds in (0.5, 4.0, 70.0):
        record_job(redis, "posai_app.ingest.sync.run_sync", "finished", seconds)
    [(func, outcome, buckets, total)] = list(job_histograms(redis.pipe))
    assert (func, outcome, total) == ("posai_app.ingest.sync.run_sync", "finished", 74.5)
    counts = dict(buckets)
    assert counts["1.0"] == 1 and counts["5.0"] == 2 and counts["60.0"] == 2 and counts["120.0"] == 3
    assert counts["+Inf"] == 3 and len(buckets) == len(JOB_BUCKETS) + 1


@pytest.mark.redis
def test_queue_depth_age_and_job_durations_from_a_real_worker(app, client, requires_redis):
    from rq import Queue

    from posai_app.queue import get_redis

    with app.app_context():
        queue = Queue("default", connection=get_redis())
        queue.enqueue("time.sleep", 0.05)
        queue.enqueue("math.sqrt", -1)  # ValueError: a failed job
    time.sleep(0.3)  # the head job has waited that long at least
    waiting = _samples(client.get("/metrics"))
    assert _value(waiting, "posai_queue_redis_up") == 1
    assert _value(waiting, "posai_queue_depth", queue="default") == 2
    assert _value(waiting, "posai_queue_depth", queue="train") == 0
    assert 0.3 <= _value(waiting, "posai_queue_oldest_age_seconds", queue="default") < 60
    assert _value(waiting, "posai_queue_oldest_age_seconds", queue="train") == 0  # empty

    settings = {"DATABASE_URL": database_url(), "REDIS_URL": requires_redis, **_test_secrets(app)}
    given = json.dumps(json.dumps(settings))
    code = f"import json, worker; worker.run_worker(['default'], burst=True, settings=json.loads({given}))"
    ran = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]

    done = _samples(client.get("/metrics"))
    assert _value(done, "posai_queue_depth", queue="default") == 0
    assert _value(done, "posai_queue_failed_jobs", queue="default") == 1
    assert _value(done, "posai_job_duration_seconds_count", job="time.sleep", outcome="finished") == 1
    assert _value(done, "posai_job_duration_seconds_sum", job="time.sleep", outcome="finished") >= 0.05
    assert _value(done, "posai_job_duration_seconds_count", job="math.sqrt", outcome="failed") == 1


def test_without_redis_the_queue_figures_say_so(make_app):
    samples = _samples(make_app(REDIS_URL=None).test_client().get("/metrics"))
    assert _value(samples, "posai_queue_redis_up") == 0
    assert not [name for name, _ in samples if name == "posai_queue_depth"]


def _test_secrets(app) -> dict:
    keys = ("SECRET_KEY", "SHOPIFY_API_KEY", "SHOPIFY_API_SECRET", "POSAI_ENCRYPTION_KEYS", "APP_URL")
    return {key: app.config[key] for key in keys}

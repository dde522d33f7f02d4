"""Prometheus metrics at `GET /metrics` (text format; docs/operations.md, "Metrics").

What is measured where, so that any web process of a multi-machine deployment answers the
whole truth:
- request latency by route (`posai_http_request_duration_seconds`) and cache lookups by cache and
  result (`posai_cache_lookups_total`): kept by each web process. Under gunicorn they are summed
  over its workers through prometheus_client's multiprocess mode (gunicorn.conf.py sets
  PROMETHEUS_MULTIPROC_DIR before the workers import this module); one machine's figures, which
  Prometheus sums over the machines it scrapes.
- queue depth, oldest queued job's age, started / scheduled / failed counts per RQ queue, and the
  webhook inbox's depth and oldest entry's age: read from Redis at scrape time (shared by every
  machine).
- job durations by job function and outcome: written to one Redis hash by each RQ worker when a
  job ends (worker.py), exported as a histogram at scrape time.

Protection: with `POSAI_METRICS_TOKEN` set, a request needs `Authorization: Bearer <token>`
(401 otherwise). In production the endpoint answers 404 until a token is set: the figures name
routes and job functions, nothing of a merchant's, but they are not for the public.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from posai_app.errors import NotFound, Unauthorized

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

REQUEST_SECONDS = Histogram(
    "posai_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL rule, not the path), method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_LOOKUPS = Counter(
    "posai_cache_lookups",
    "Per-process cache lookups (serving index, catalog, shop snapshot...), by cache and hit/miss.",
    ["cache", "result"],
)

JOB_DURATIONS_KEY = "posai:metrics:job-durations"
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)


def cache_counters(cache: str):
    """(hit, miss) counters of one cache, bound once: each lookup on the request path is one inc()."""
    return CACHE_LOOKUPS.labels(cache=cache, result="hit"), CACHE_LOOKUPS.labels(cache=cache, result="miss")


# --- request latency -----------------------------------------------------------------------


def init_app(app: Flask) -> None:
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.register_blueprint(bp)


def _start_timer() -> None:
    g.posai_request_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("posai_request_started", None)
    if started is not None:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        REQUEST_SECONDS.labels(route=rule, method=request.method, status=str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


# --- job durations (written by the RQ worker) ------------------------------------------------


def record_job(redis, func_name: str, outcome: str, seconds: float) -> None:
    """Count one ended job in the shared histogram (atomic increments: many workers write it)."""
    prefix = f"{func_name}\t{outcome}"
    with redis.pipeline(transaction=False) as pipe:
        pipe.hincrby(JOB_DURATIONS_KEY, f"{prefix}\tcount", 1)
        pipe.hincrbyfloat(JOB_DURATIONS_KEY, f"{prefix}\tsum", seconds)
        for bound in JOB_BUCKETS:
            if seconds <= bound:
                pipe.hincrby(JOB_DURATIONS_KEY, f"{prefix}\tle\t{bound}", 1)
        pipe.execute()


def record_ended_job(redis, job, outcome: str) -> None:
    """From the worker's job-ended hooks; a metrics failure never fails the job."""
    try:
        started = job.started_at
        if started is None:
            return
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        record_job(redis, job.func_name, outcome, max(0.0, (datetime.now(UTC) - started).total_seconds()))
    except Exception:
        log.warning("could not record job %s's duration", getattr(job, "id", "?"), exc_info=True)


def job_histograms(raw: dict) -> Iterator[tuple[str, str, list[tuple[str, float]], float]]:
    """(function, outcome, cumulative buckets incl. +Inf, sum) from the Redis hash's fields."""
    parsed: dict[tuple[str, str], dict] = defaultdict(lambda: {"le": {}, "count": 0, "sum": 0.0})
    for field, value in raw.items():
        field = field.decode() if isinstance(field, bytes) else field
        parts = field.split("\t")
        entry = parsed[(parts[0], parts[1])]
        if parts[2] == "count":
            entry["count"] = int(value)
        elif parts[2] == "sum":
            entry["sum"] = float(value)
        else:
            entry["le"][float(parts[3])] = int(value)
    for (func, outcome), entry in sorted(parsed.items()):
        buckets = [(repr(bound), float(entry["le"].get(bound, 0))) for bound in JOB_BUCKETS]
        buckets.append(("+Inf", float(entry["count"])))
        yield func, outcome, buckets, entry["sum"]


# --- scrape-time collectors -----------------------------------------------------------------


class QueueCollector(Collector):
    """Queue depth and age, registries and job durations, read from Redis when scraped."""

    def __init__(self, redis, queue_names: Iterable[str]):
        self.redis = redis
        self.queue_names = tuple(queue_names)

    def collect(self):
        up = GaugeMetricFamily("posai_queue_redis_up", "1 if Redis answered this scrape, else 0.")
        if self.redis is None:
            up.add_metric([], 0)
            yield up
            return
        try:
            families = self._queues()
            inbox_families = self._inbox()
            jobs = self.redis.hgetall(JOB_DURATIONS_KEY)
        except Exception as exc:  # a scrape reports, it does not fail
            log.warning("metrics: Redis unavailable (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families
        yield from inbox_families
        durations = HistogramMetricFamily(
            "posai_job_duration_seconds",
            "RQ job run time (start to end), by job function and outcome (finished, failed).",
            labels=["job", "outcome"],
        )
        for func, outcome, buckets, total in job_histograms(jobs):
            durations.add_metric([func, outcome], buckets, total)
        yield durations

    def _inbox(self) -> list:
        from posai_app.webhooks import inbox

        depth, oldest, dead = inbox.inbox_figures(self.redis)
        families = [
            GaugeMetricFamily(
                "posai_webhook_inbox_depth", "Webhook deliveries accepted and waiting for a drain.", depth
            ),
            GaugeMetricFamily(
                "posai_webhook_inbox_oldest_age_seconds",
                "Age of the oldest delivery waiting in the webhook inbox (0 when empty).",
                oldest,
            ),
            GaugeMetricFamily(
                "posai_webhook_inbox_dead", "Inbox entries no drain could read (posai:webhooks:dead).", dead
            ),
        ]
        return families

    def _queues(self) -> list:
        from rq import Queue
        from rq.exceptions import NoSuchJobError
        from rq.job import Job
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        def gauge(name: str, text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=["queue"])

        depth = gauge("posai_queue_depth", "Jobs waiting in the queue.")
        age = gauge(
            "posai_queue_oldest_age_seconds",
            "Age of the job at the head of the queue (0 when empty): how far behind the workers are.",
        )
        started = gauge("posai_queue_started_jobs", "Jobs running now.")
        scheduled = gauge("posai_queue_scheduled_jobs", "Retries and debounced retrains waiting.")
        failed = gauge("posai_queue_failed_jobs", "Jobs in the failed registry.")
        now = datetime.now(UTC)
        for name in self.queue_names:
            queue = Queue(name, connection=self.redis)
            depth.add_metric([name], queue.count)
            oldest = 0.0
            # The head, the longest waiting (a length, not an end index: (0, 0) is no job at all).
            for job_id in queue.get_job_ids(0, 1):
                try:
                    enqueued = Job.fetch(job_id, connection=self.redis).enqueued_at
                except NoSuchJobError:  # deleted between the two reads
                    enqueued = None
                if enqueued is not None:
                    enqueued = enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)
                    oldest = max(0.0, (now - enqueued).total_seconds())
            age.add_metric([name], oldest)
            started.add_metric([name], StartedJobRegistry(name, connection=self.redis).count)
            scheduled.add_metric([name], ScheduledJobRegistry(name, connection=self.redis).count)
            failed.add_metric([name], FailedJobRegistry(name, connection=self.redis).count)
        return [depth, age, started, scheduled, failed]


def _process_registry() -> CollectorRegistry:
    """This process's metrics, or all of this gunicorn's workers' in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> bytes:
    from posai_app.queue import get_redis

    registry = CollectorRegistry()
    registry.register(QueueCollector(get_redis(), current_app.config["RQ_QUEUES"]))
    return generate_latest(_process_registry()) + generate_latest(registry)


@bp.get("/metrics")
def metrics():
    token = current_app.config.get("POSAI_METRICS_TOKEN")
    if not token:
        if current_app.config.get("POSAI_ENV") == "production":
            raise NotFound("metrics are off: set POSAI_METRICS_TOKEN to serve them")
    else:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise Unauthorized("send Authorization: Bearer <POSAI_METRICS_TOKEN>")
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)

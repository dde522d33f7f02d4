"""Data for the merchant's admin page, assembled from the models.

Every function takes `shop_id` and plain values and returns plain dicts/lists, never
touching `request` or `g`; the views commit. Reads go through `select_for_shop`.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased

from posai_app.errors import AppError, NotFound, ValidationFailed
from posai_app.extensions import db
from posai_app.inputs import parse_id
from posai_app.models import (
    DEFAULT_SETTINGS,
    EvaluationRun,
    OrderLineItem,
    ProductVariant,
    RecommenderConfig,
    Shop,
    SyncState,
    VariantNeighbor,
    aware,
)
from posai_app.queue import get_redis
from posai_app.tenancy import select_for_shop

BASELINE_METRIC = "popularity"
# Plain-language explanations shown under the evaluation table ("K" is the number of suggestions).
METRIC_EXPLANATIONS = {
    "hitRate": "HitRate@{k}: how often the item the customer really bought was among the {k} suggestions.",
    "precision": "Precision@{k}: the share of the {k} suggestions that the customer actually bought.",
    "recall": "Recall@{k}: the share of the items held out from each test order that the suggestions found.",
    "coverage": "Coverage@{k}: how often the method had any suggestion at all for the cart.",
}
SCORER_EXPLANATIONS = {
    "cooccurrence": "Bought together most often.",
    "cosine": "Bought together, balanced for how popular both items are.",
    "confidence": "Of the orders with the cart item, the share that also had this one.",
    "lift": "Bought together more often than chance would predict.",
    "jaccard": "Overlap of the two items' orders.",
    "asymmetric": "Bought together, tuned for how strongly the cart item points to this one.",
    "asymmetric_cosine": "Bought together, tuned for how strongly the cart item points to this one.",
    "bm25": "Bought together, down-weighting very large orders and very common items.",
    "rp3beta": "A random walk from the cart item through shared orders, with bestsellers toned down.",
    "ease": "A model fitted to whole baskets of your most-bought items at once.",
    "asymmetric_decay": "Like asymmetric, with recent orders counting more than old ones.",
    "rp3beta_decay": "Like rp3beta, with recent orders counting more than old ones.",
    "ease_decay": "Like ease, with recent orders counting more than old ones.",
    BASELINE_METRIC: "Baseline: the shop's bestsellers, whatever is in the cart.",
}


def scorer_explanation(name: str | None) -> str:
    """The plain-language line for a scorer, or for a blend of two ("ease+ease_decay")."""
    if name and "+" in name:
        first, _, second = name.partition("+")
        return f"A blend of {first} and {second}: both scores, weighted, added up."
    return SCORER_EXPLANATIONS.get(name or "", "")


RETRAIN_INTERVAL_MIN, RETRAIN_INTERVAL_MAX = 15, 7 * 24 * 60
LIMIT_MIN, LIMIT_MAX = 1, 10
ACTIVE_SYNC_STATUSES = {"queued", "pending", "running", "in_progress"}
ACTIVE_RUN_STATUSES = {"queued", "running"}
# A job that has not reported for this long is treated as dead, so the merchant can start another.
STALE_AFTER = timedelta(hours=2)
# How long "queued, waiting for a worker" is shown after a request before giving up on it.
QUEUED_GRACE_SECONDS = 15 * 60
SEARCH_LIMIT = 20
log = logging.getLogger(__name__)


class ServiceUnavailable(AppError):
    status, code = 503, "service_unavailable"


def get_shop(shop_id: int) -> Shop:
    """The shop row, or NotFound."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    return shop


# --- data summary -----------------------------------------------------------------------------


# Whole-history counts cost one scan of the shop's line items (~0.35 s for 517k rows on
# PostgreSQL), so each web process keeps them per shop until the data visibly changes
# (newest order, sync progress) or SUMMARY_TTL passes (cancellations and edits show up then).
SUMMARY_TTL_SECONDS = 300
_summary_cache: dict[int, tuple[tuple, float, dict[str, Any]]] = {}
_pairs_cache: dict[int, tuple[tuple, list[dict[str, Any]]]] = {}
_cache_lock = threading.Lock()
MAX_CACHED_SHOPS = 256


def clear_caches() -> None:
    """Forget cached summaries and pairs (tests; a process never needs it otherwise)."""
    with _cache_lock:
        _summary_cache.clear()
        _pairs_cache.clear()


def _cache_put(cache: dict, shop_id: int, value: tuple) -> None:
    with _cache_lock:
        cache.pop(shop_id, None)
        cache[shop_id] = value
        while len(cache) > MAX_CACHED_SHOPS:
            cache.pop(next(iter(cache)))


def _history_counts(shop_id: int, *, cached_only: bool = False) -> dict[str, Any] | None:
    """Orders, line items, multi-item orders, date range and catalog size (cached per shop).

    With cached_only, None instead of computing (the page then loads the card separately).
    """
    fingerprint = (
        db.session.scalar(
            sa.select(sa.func.max(OrderLineItem.created_at)).where(OrderLineItem.shop_id == shop_id)
        ),
        db.session.scalar(sa.select(sa.func.max(SyncState.updated_at)).where(SyncState.shop_id == shop_id)),
        db.session.scalar(
            sa.select(sa.func.count()).select_from(SyncState).where(SyncState.shop_id == shop_id)
        ),
    )
    now = time.monotonic()
    cached = _summary_cache.get(shop_id)
    if cached is not None and cached[0] == fingerprint and cached[1] > now:
        return cached[2]
    if cached_only:
        return None
    sellable = sa.and_(OrderLineItem.variant_id.is_not(None), OrderLineItem.cancelled_at.is_(None))
    # One pass over the shop's line items, grouped by order; a basket counts when it has two
    # distinct variants (min != max is the cheap form of count(distinct) >= 2).
    per_order = (
        sa.select(
            sa.func.count().label("lines"),
            sa.func.min(OrderLineItem.created_at).label("first_at"),
            sa.func.max(OrderLineItem.created_at).label("last_at"),
            sa.case(
                (
                    sa.func.min(sa.case((sellable, OrderLineItem.variant_id)))
                    != sa.func.max(sa.case((sellable, OrderLineItem.variant_id))),
                    1,
                ),
                else_=0,
            ).label("multi"),
        )
        .where(OrderLineItem.shop_id == shop_id)
        .group_by(OrderLineItem.order_id)
        .subquery()
    )
    orders, line_items, first_at, last_at, multi = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(per_order.c.lines), 0),
            sa.func.min(per_order.c.first_at),
            sa.func.max(per_order.c.last_at),
            sa.func.coalesce(sa.func.sum(per_order.c.multi), 0),
        ).select_from(per_order)
    ).one()
    variants, products = db.session.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(ProductVariant.product_id))).where(
            ProductVariant.shop_id == shop_id, ProductVariant.deleted_at.is_(None)
        )
    ).one()
    counts = {
        "orders": orders,
        "line_items": int(line_items),
        "multi_item_orders": int(multi),
        "variants": variants,
        "products": products,
        "first_order_at": aware(first_at),
        "last_order_at": aware(last_at),
    }
    _cache_put(_summary_cache, shop_id, (fingerprint, now + SUMMARY_TTL_SECONDS, counts))
    return counts


def data_summary(shop_id: int, *, cached_only: bool = False) -> dict[str, Any] | None:
    """Counts, date range and history coverage of the shop's stored data.

    With cached_only, None unless the counts are already cached in this process.
    """
    counts = _history_counts(shop_id, cached_only=cached_only)
    if counts is None:
        return None
    shop = get_shop(shop_id)
    syncs = sync_states(shop_id)
    orders_sync = syncs.get("orders")
    has_scope = "read_all_orders" in {s.strip() for s in (shop.scopes or "").split(",")}
    partial_history = (not has_scope) or (orders_sync is not None and orders_sync["all_history"] is False)
    return {
        **counts,
        "history_oldest_at": orders_sync["oldest_record_at"] if orders_sync else None,
        "partial_history": partial_history,
        "has_read_all_orders": has_scope,
        "syncs": syncs,
        "needs_reauth": bool(shop.needs_reauth),
    }


def sync_states(shop_id: int) -> dict[str, dict[str, Any]]:
    """The shop's sync progress per resource ("products", "orders")."""
    rows = db.session.scalars(select_for_shop(SyncState, shop_id).order_by(SyncState.resource)).all()
    now = datetime.now(UTC)
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        updated = aware(row.updated_at) or aware(row.started_at)
        active = row.status in ACTIVE_SYNC_STATUSES and (updated is None or now - updated < STALE_AFTER)
        total = row.total_count
        percent = None
        if total:
            percent = max(0, min(100, math.floor(100 * (row.processed_count or 0) / total)))
        out[row.resource] = {
            "resource": row.resource,
            "status": row.status,
            "active": active,
            "phase": row.phase,
            "processed": row.processed_count or 0,
            "total": total,
            "percent": percent,
            "oldest_record_at": aware(row.oldest_record_at),
            "all_history": row.all_history,
            "last_error": row.last_error,
            "started_at": aware(row.started_at),
            "finished_at": aware(row.finished_at),
            "last_synced_at": aware(row.last_synced_at),
            "updated_at": updated,
            "failed": row.status in ("failed", "error"),
        }
    return out


# --- live model and evaluation report ---------------------------------------------------------


def live_config(shop_id: int) -> dict[str, Any] | None:
    """The metric the API serves with, when it was trained and on how many orders."""
    config = db.session.scalar(select_for_shop(RecommenderConfig, shop_id))
    if config is None:
        return None
    return {
        "metric": config.metric,
        "explanation": scorer_explanation(config.metric),
        "trained_at": aware(config.trained_at),
        "train_orders": config.train_orders,
        "model_version": config.model_version,
        "status": config.status,
        "status_message": config.status_message,
        "k": config.k,
    }


def _run_dict(run: EvaluationRun) -> dict[str, Any]:
    progress = run.progress or {}
    done, total = progress.get("done"), progress.get("total")
    percent = None
    if isinstance(done, int | float) and isinstance(total, int | float) and total > 0:
        percent = max(0, min(100, math.floor(100 * done / total)))
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "error": run.error,
        "started_at": aware(run.started_at),
        "finished_at": aware(run.finished_at),
        "duration_seconds": run.duration_seconds,
        "phase": progress.get("phase"),
        "done": done,
        "total": total,
        "percent": percent,
        "chosen_metric": run.chosen_metric,
        "k": run.k,
    }


def latest_run(shop_id: int) -> dict[str, Any] | None:
    """The newest evaluation run in any state."""
    run = db.session.scalar(
        select_for_shop(EvaluationRun, shop_id)
        .order_by(EvaluationRun.started_at.desc(), EvaluationRun.id.desc())
        .limit(1)
    )
    if run is None:
        return None
    out = _run_dict(run)
    from posai_app.training.services import run_is_alive

    out["active"] = run.status in ACTIVE_RUN_STATUSES and (run.status != "running" or run_is_alive(run))
    return out


def _metric_rows(results: dict[str, Any], chosen: str | None) -> list[dict[str, Any]]:
    rows = []
    for name, figures in (results or {}).items():
        if not isinstance(figures, dict):
            continue
        rows.append(
            {
                "metric": name,
                "hitRate": _num(figures.get("hitRate")),
                "precision": _num(figures.get("precision")),
                "recall": _num(figures.get("recall")),
                "coverage": _num(figures.get("coverage")),
                "params": figures.get("params"),
                "chosen": name == chosen,
                "baseline": name == BASELINE_METRIC,
                "explanation": scorer_explanation(name),
            }
        )
    # Best first so the table and the chart read top-down; the baseline closes the list.
    rows.sort(key=lambda r: (r["baseline"], -(r["hitRate"] or 0.0), r["metric"]))
    return rows


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def evaluation_report(shop_id: int) -> dict[str, Any] | None:
    """The last successful run's figures for every scorer, the chosen one marked."""
    run = db.session.scalar(
        select_for_shop(EvaluationRun, shop_id)
        .where(EvaluationRun.status == "succeeded")
        .order_by(EvaluationRun.started_at.desc(), EvaluationRun.id.desc())
        .limit(1)
    )
    if run is None:
        return None
    report = run.results or {}
    k = report.get("k") or run.k
    chosen = run.chosen_metric or report.get("best")
    rows = _metric_rows(report.get("results") or {}, chosen)
    details = report.get("details") if isinstance(report.get("details"), dict) else {}
    tuned = details.get("params") if isinstance(details.get("params"), dict) else {}
    for row in rows:
        if not row["params"] and isinstance(tuned.get(row["metric"]), dict):
            row["params"] = tuned[row["metric"]]
    selection = details.get("selection") if isinstance(details.get("selection"), dict) else {}
    skipped = details.get("skipped") if isinstance(details.get("skipped"), dict) else {}
    baseline = next((r for r in rows if r["baseline"]), None)
    best = next((r for r in rows if r["chosen"]), None)
    lift_over_baseline = None
    if best and baseline and best["hitRate"] is not None and baseline["hitRate"]:
        lift_over_baseline = best["hitRate"] / baseline["hitRate"]
    return {
        "run": _run_dict(run),
        "k": k,
        "train_orders": report.get("trainOrders", run.train_orders),
        "evaluated_orders": report.get("evaluatedOrders", run.evaluated_orders),
        "chosen_metric": chosen,
        "rows": rows,
        "best": best,
        "baseline": baseline,
        "lift_over_baseline": lift_over_baseline,
        "explanations": [text.format(k=k) for text in METRIC_EXPLANATIONS.values()],
        "selection_rule": selection.get("rule") if isinstance(selection.get("rule"), str) else None,
        # Methods that beat the live one on this test: the page says why they are not live.
        "outscored_live": bool(
            best
            and best["hitRate"] is not None
            and any(r["hitRate"] and r["hitRate"] > best["hitRate"] for r in rows if not r["baseline"])
        ),
        "skipped": [{"metric": str(name), "reason": str(reason)} for name, reason in skipped.items()],
    }


def run_history(shop_id: int, limit: int = 30) -> list[dict[str, Any]]:
    """Past successful runs, oldest first: the chosen metric's HitRate and the baseline's."""
    runs = db.session.scalars(
        select_for_shop(EvaluationRun, shop_id)
        .where(EvaluationRun.status == "succeeded")
        .order_by(EvaluationRun.started_at.desc(), EvaluationRun.id.desc())
        .limit(limit)
    ).all()
    points = []
    for run in reversed(runs):
        report = run.results or {}
        results = report.get("results") or {}
        chosen = run.chosen_metric or report.get("best")
        figures = results.get(chosen) if isinstance(results.get(chosen), dict) else {}
        baseline = results.get(BASELINE_METRIC) if isinstance(results.get(BASELINE_METRIC), dict) else {}
        points.append(
            {
                "run_id": run.id,
                "at": aware(run.finished_at) or aware(run.started_at),
                "metric": chosen,
                "hitRate": _num(figures.get("hitRate")),
                "baseline": _num(baseline.get("hitRate")),
                "train_orders": report.get("trainOrders", run.train_orders),
            }
        )
    return points


def top_pairs(shop_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """The most co-purchased pairs of the serving index, each unordered pair once, with titles."""
    # The index only changes when a training publishes (model_version bumps): cache on that.
    fingerprint = (
        limit,
        *(
            db.session.execute(
                sa.select(RecommenderConfig.model_version, RecommenderConfig.trained_at).where(
                    RecommenderConfig.shop_id == shop_id
                )
            ).first()
            or (None, None)
        ),
    )
    cached = _pairs_cache.get(shop_id)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    pairs = _top_pairs(shop_id, limit)
    _cache_put(_pairs_cache, shop_id, (fingerprint, pairs))
    return pairs


def _top_pairs(shop_id: int, limit: int) -> list[dict[str, Any]]:
    # Pick the top rows first, then join titles to those few (not to the whole index).
    top = (
        select_for_shop(VariantNeighbor, shop_id)
        .with_only_columns(
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
            VariantNeighbor.co_count,
            VariantNeighbor.score,
        )
        .order_by(
            VariantNeighbor.co_count.desc(),
            VariantNeighbor.score.desc(),
            VariantNeighbor.source_variant_id,
            VariantNeighbor.target_variant_id,
        )
        .limit(limit * 4)
        .subquery()
    )
    source = aliased(ProductVariant)
    target = aliased(ProductVariant)
    rows = db.session.execute(
        sa.select(
            top.c.source_variant_id,
            top.c.target_variant_id,
            top.c.co_count,
            top.c.score,
            source.product_title,
            source.variant_title,
            target.product_title,
            target.variant_title,
        )
        .select_from(top)
        .outerjoin(source, sa.and_(source.shop_id == shop_id, source.variant_id == top.c.source_variant_id))
        .outerjoin(target, sa.and_(target.shop_id == shop_id, target.variant_id == top.c.target_variant_id))
        .order_by(top.c.co_count.desc(), top.c.score.desc(), top.c.source_variant_id, top.c.target_variant_id)
    ).all()
    seen: set[frozenset[int]] = set()
    pairs = []
    for src, dst, co, score, s_title, s_variant, t_title, t_variant in rows:
        key = frozenset((src, dst))
        if key in seen:
            continue
        seen.add(key)
        pairs.append(
            {
                "a": _label(s_title, s_variant, src),
                "b": _label(t_title, t_variant, dst),
                "a_variant_id": src,
                "b_variant_id": dst,
                "co_count": co,
                "score": score,
            }
        )
        if len(pairs) == limit:
            break
    return pairs


def _label(product_title: str | None, variant_title: str | None, variant_id: int) -> str:
    if not product_title:
        return f"Variant {variant_id}"
    if variant_title and variant_title != "Default Title":
        return f"{product_title} – {variant_title}"
    return product_title


# --- product search and preview ---------------------------------------------------------------


def _clean_query(query: str | None) -> str:
    # Printable characters only: PostgreSQL refuses NUL in text parameters.
    printable = "".join(ch if ch.isprintable() else " " for ch in (query or "")[:500])
    return " ".join(printable.split())[:100]


def search_variants(shop_id: int, query: str | None, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Sellable-looking variants whose product title contains the query (case-insensitive)."""
    q = _clean_query(query)
    if not q:
        return []
    rows = db.session.scalars(
        select_for_shop(ProductVariant, shop_id)
        .where(
            ProductVariant.deleted_at.is_(None),
            sa.func.lower(ProductVariant.product_title).contains(q.lower(), autoescape=True),
        )
        .order_by(ProductVariant.product_title, ProductVariant.variant_title, ProductVariant.variant_id)
        .limit(limit)
    ).all()
    return [_variant_dict(v) for v in rows]


def _variant_dict(v: ProductVariant) -> dict[str, Any]:
    return {
        "variant_id": v.variant_id,
        "product_id": v.product_id,
        "label": _label(v.product_title, v.variant_title, v.variant_id),
        "product_title": v.product_title,
        "variant_title": v.variant_title,
        "price": v.price,
        "inventory_quantity": v.inventory_quantity,
        "status": v.status,
        "is_gift_card": v.is_gift_card,
    }


def search_products(shop_id: int, query: str | None, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Products (one row per product id) whose title contains the query."""
    q = _clean_query(query)
    if not q:
        return []
    rows = db.session.execute(
        sa.select(
            ProductVariant.product_id,
            sa.func.min(ProductVariant.product_title),
            sa.func.count(),
        )
        .where(
            ProductVariant.shop_id == shop_id,
            ProductVariant.deleted_at.is_(None),
            sa.func.lower(ProductVariant.product_title).contains(q.lower(), autoescape=True),
        )
        .group_by(ProductVariant.product_id)
        .order_by(sa.func.min(ProductVariant.product_title), ProductVariant.product_id)
        .limit(limit)
    ).all()
    return [{"product_id": pid, "title": title, "variants": n} for pid, title, n in rows]


def variants_by_ids(shop_id: int, variant_ids: list[int]) -> list[dict[str, Any]]:
    """The shop's variants among the given ids (others' ids are silently absent), in the given order."""
    if not variant_ids:
        return []
    rows = db.session.scalars(
        select_for_shop(ProductVariant, shop_id).where(ProductVariant.variant_id.in_(variant_ids))
    ).all()
    by_id = {v.variant_id: v for v in rows}
    return [_variant_dict(by_id[i]) for i in variant_ids if i in by_id]


def parse_ids(values: list[str], field: str, limit: int = 100) -> list[int]:
    """Numeric Shopify ids from form values (GIDs accepted), deduplicated in order; 422 otherwise."""
    out: list[int] = []
    for raw in values:
        text = str(raw).strip()
        if not text:
            continue
        value = parse_id(text)
        if value is None:
            raise ValidationFailed(f"{str(raw)[:40]!r} is not a valid id", details={field: str(raw)[:40]})
        if value not in out:
            out.append(value)
    if len(out) > limit:
        raise ValidationFailed(f"At most {limit} ids are allowed", details={field: len(out)})
    return out


def preview(shop_id: int, variant_ids: list[int], explain: bool) -> dict[str, Any]:
    """What the POS would get for this cart: the very function behind POST /api/recommendations."""
    try:
        from posai_app.api.recommendations import recommend_for_cart
    except ModuleNotFoundError as exc:  # the API feature is developed in parallel (issue 6)
        raise ServiceUnavailable("Recommendations are not available yet in this build") from exc
    return recommend_for_cart(shop_id, variant_ids, explain=explain)


# --- settings ---------------------------------------------------------------------------------


def current_settings(shop_id: int) -> dict[str, Any]:
    """Every setting with its default filled in, plus the excluded products' titles."""
    shop = get_shop(shop_id)
    values = {name: shop.setting(name) for name in DEFAULT_SETTINGS}
    values["excluded_products"] = excluded_products(shop_id, values["excluded_product_ids"])
    return values


def excluded_products(shop_id: int, product_ids: list[int]) -> list[dict[str, Any]]:
    """Titles for excluded product ids (a product since deleted keeps a placeholder title)."""
    if not product_ids:
        return []
    rows = db.session.execute(
        sa.select(ProductVariant.product_id, sa.func.min(ProductVariant.product_title))
        .where(ProductVariant.shop_id == shop_id, ProductVariant.product_id.in_(product_ids))
        .group_by(ProductVariant.product_id)
    ).all()
    titles = dict(rows)
    return [{"product_id": pid, "title": titles.get(pid) or f"Product {pid}"} for pid in product_ids]


def _int_field(form: dict[str, Any], name: str, low: int, high: int, label: str, errors: dict) -> int | None:
    raw = str(form.get(name, "")).strip()
    if raw == "":
        errors[name] = f"{label} is required."
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"{label} must be a whole number."
        return None
    if not low <= value <= high:
        errors[name] = f"{label} must be between {low} and {high}."
        return None
    return value


def validate_settings(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the settings form; returns (clean values, errors by field)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    limit = _int_field(
        form, "recommendation_limit", LIMIT_MIN, LIMIT_MAX, "Number of recommendations", errors
    )
    interval = _int_field(
        form,
        "retrain_interval_minutes",
        RETRAIN_INTERVAL_MIN,
        RETRAIN_INTERVAL_MAX,
        "Retrain interval (minutes)",
        errors,
    )
    fallback_raw = str(form.get("bestseller_fallback", "")).strip().lower()
    if fallback_raw not in ("", "0", "1", "on", "off", "true", "false", "yes", "no"):
        errors["bestseller_fallback"] = "Bestseller fallback must be on or off."
    values["bestseller_fallback"] = fallback_raw in ("1", "on", "true", "yes")
    if limit is not None:
        values["recommendation_limit"] = limit
    if interval is not None:
        values["retrain_interval_minutes"] = interval
    return values, errors


def update_settings(shop_id: int, form: dict[str, Any]) -> dict[str, Any]:
    """Validate and store the scalar settings; raises ValidationFailed with per-field details."""
    values, errors = validate_settings(form)
    if errors:
        raise ValidationFailed("Please fix the highlighted settings", details=errors)
    shop = locked_shop(shop_id)
    # Reassign (not mutate) so SQLAlchemy sees the JSON column change.
    shop.settings = {**(shop.settings or {}), **values}
    return current_settings(shop_id)


def _product_exists(shop_id: int, product_id: int) -> bool:
    return (
        db.session.scalar(
            sa.select(ProductVariant.id)
            .where(ProductVariant.shop_id == shop_id, ProductVariant.product_id == product_id)
            .limit(1)
        )
        is not None
    )


def locked_shop(shop_id: int) -> Shop:
    """The shop row, locked for the rest of the transaction: settings are read, changed, written.

    Without the lock two concurrent changes both read the old settings JSON and the second
    write loses the first (20 concurrent exclusions stored 16). A no-op UPDATE takes the
    row lock on PostgreSQL and SQLite's write lock alike, then the row is re-read.
    """
    db.session.execute(sa.update(Shop).where(Shop.id == shop_id).values(id=Shop.id))
    shop = db.session.get(Shop, shop_id, populate_existing=True)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    return shop


def add_excluded_product(shop_id: int, product_id: int) -> list[int]:
    """Exclude one of the shop's products from recommendations; returns the new list."""
    if not _product_exists(shop_id, product_id):
        raise ValidationFailed(
            f"Product {product_id} is not in this shop's catalog", details={"product_id": product_id}
        )
    shop = locked_shop(shop_id)
    current = [int(p) for p in shop.setting("excluded_product_ids")]
    if product_id not in current:
        if len(current) >= 500:
            raise ValidationFailed("At most 500 products can be excluded", details={"product_id": product_id})
        current.append(product_id)
        shop.settings = {**(shop.settings or {}), "excluded_product_ids": current}
    return current


def remove_excluded_product(shop_id: int, product_id: int) -> list[int]:
    """Stop excluding a product (a no-op when it was not excluded); returns the new list."""
    shop = locked_shop(shop_id)
    current = [int(p) for p in shop.setting("excluded_product_ids") if int(p) != product_id]
    shop.settings = {**(shop.settings or {}), "excluded_product_ids": current}
    return current


# --- jobs: resync and retrain -----------------------------------------------------------------


def max_run_id(shop_id: int) -> int:
    """The id of the shop's newest evaluation run (0 when none)."""
    query = sa.select(sa.func.max(EvaluationRun.id)).where(EvaluationRun.shop_id == shop_id)
    return db.session.scalar(query) or 0


def _require_job(module: str, what: str) -> None:
    """Refuse early (503) when a job's module is missing, instead of failing in the worker."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # the parent package is missing
        found = False
    if not found:
        raise ServiceUnavailable(f"{what} is not available in this build")


# Without Redis (development, `make demo`) jobs run in-process. A retrain or sync started from
# the page runs in a thread of this process instead of inside the request, so the request
# returns at once, the page shows live progress, and a long job cannot hit the web timeout.
_background: dict[tuple[str, int], threading.Thread] = {}
_background_lock = threading.Lock()


def _start_in_background(kind: str, shop_id: int, work: Callable[[], Any]) -> bool:
    """Run work() in a thread with its own app context; False if this shop's one is still running."""
    app = current_app._get_current_object()
    key = (kind, shop_id)

    def run() -> None:
        with app.app_context():
            try:
                work()
            except Exception:  # a thread has nobody to raise to: log it like a failed RQ job
                log.exception("background %s for shop %s failed", kind, shop_id)
            finally:
                db.session.remove()

    with _background_lock:
        current = _background.get(key)
        if current is not None and current.is_alive():
            return False
        thread = threading.Thread(target=run, name=f"posai-{kind}-{shop_id}", daemon=True)
        _background[key] = thread
        thread.start()
    return True


def wait_for_background_jobs(timeout: float = 120.0) -> None:
    """Join the in-process job threads (tests, and an orderly shutdown)."""
    deadline = time.monotonic() + timeout
    with _background_lock:
        threads = list(_background.values())
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def request_sync(shop_id: int) -> dict[str, Any]:
    """Start a resync from Shopify unless one is already under way (coalesced either way)."""
    if any(s["active"] for s in sync_states(shop_id).values()):
        return {"status": "already_running"}
    _require_job("posai_app.ingest.jobs", "Syncing from Shopify")
    from posai_app.ingest.jobs import enqueue_sync

    if get_redis() is None:

        def sync() -> None:
            enqueue_sync(shop_id)

        started = _start_in_background("sync", shop_id, sync)
        return {"status": "queued" if started else "already_running", "job_id": None}
    job_id = enqueue_sync(shop_id)
    return {"status": "queued", "job_id": job_id}


def request_training(shop_id: int) -> dict[str, Any]:
    """Start a retrain for the shop; double clicks and concurrent requests are coalesced."""
    _require_job("posai_app.training.services", "Training")
    from posai_app.training import services as training

    if get_redis() is None:
        if (running := training.running_run(shop_id)) is not None:
            return {"status": "already_running", "run_id": running.id}
        started = _start_in_background("train", shop_id, lambda: training.request_training(shop_id, "admin"))
        return {"status": "queued" if started else "already_running", "run_id": None}
    return training.request_training(shop_id, "admin")


def job_status(
    shop_id: int,
    *,
    train_after: int | None = None,
    train_since: float | None = None,
    sync_since: float | None = None,
) -> dict[str, Any]:
    """Training and sync progress for the status panel.

    `train_after`/`train_since` and `sync_since` describe a request the page just made
    (epoch seconds): until a run newer than `train_after`, or a sync started after
    `sync_since`, shows up, that request is reported as queued (for a bounded time).
    """
    run = latest_run(shop_id)
    syncs = sync_states(shop_id)
    train_queued = bool(
        _fresh(train_since)
        and train_after is not None
        and (run is None or run["id"] <= train_after)
        and not _run_active(run)
    )
    sync_running = any(s["active"] for s in syncs.values())
    sync_queued = False
    if _fresh(sync_since) and not sync_running:
        since_dt = datetime.fromtimestamp(sync_since, UTC) - timedelta(seconds=1)  # type: ignore[arg-type]
        # Any write by the sync job after the request (a resumed sync keeps its started_at).
        sync_queued = not any(s["updated_at"] and s["updated_at"] >= since_dt for s in syncs.values())
    training_active = _run_active(run) or train_queued
    sync_active = sync_running or sync_queued
    return {
        "run": run,
        "train_queued": train_queued,
        "training_active": training_active,
        "syncs": syncs,
        "sync_queued": sync_queued,
        "sync_active": sync_active,
        "sync_failed": next((s for s in syncs.values() if s["failed"]), None),
        "config": live_config(shop_id),
        "active": training_active or sync_active,
    }


def _fresh(since: float | None) -> bool:
    return since is not None and 0 <= time.time() - since < QUEUED_GRACE_SECONDS


def _run_active(run: dict[str, Any] | None) -> bool:
    return bool(run and run.get("active"))

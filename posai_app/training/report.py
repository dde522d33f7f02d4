"""Plain-text rendering of an evaluation run (CLI and logs)."""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import EvaluationRun, RecommenderConfig, RunStatus, aware
from posai_app.reco.scorers import SCORERS
from posai_app.tenancy import of_shop, select_for_shop


def format_report(run: EvaluationRun) -> str:
    if run.status != RunStatus.SUCCEEDED or not run.results:
        return f"run {run.id}: {run.status}" + (f" — {run.error}" if run.error else "")
    report = run.results
    k = report.get("k", run.k)
    lines = [
        f"run {run.id}: trained on {report.get('trainOrders')} orders, evaluated on "
        f"{report.get('evaluatedOrders')} held-out carts in {run.duration_seconds:.1f}s",
        f"{'scorer':<28}{'HitRate@' + str(k):>12}{'Precision':>12}{'Recall':>10}{'Coverage':>10}",
    ]
    for name, fig in report["results"].items():
        mark = " *" if name == run.chosen_metric else ""
        lines.append(
            f"{name + mark:<28}{fig['hitRate']:>12.4f}{fig['precision']:>12.4f}"
            f"{fig['recall']:>10.4f}{fig.get('coverage', 0.0):>10.4f}"
        )
    lines.append(f"live metric: {run.chosen_metric} (*)")
    lines += _selection_lines(report.get("details", {}))
    return "\n".join(lines)


def _selection_lines(details: dict) -> list[str]:
    """How the live metric was chosen: inner folds, the leader's margin with its noise, planned cuts."""
    selection = details.get("selection", {})
    lines = []
    folds = selection.get("folds")
    if folds:
        lines.append(
            f"chosen on {len(folds)} rolling inner folds ({selection.get('innerEvaluatedOrders')} carts), "
            "never on the figures above"
        )
    margin = selection.get("margin")
    if margin:
        lines.append(
            f"  inner lead of {margin['leader']} over {margin['runnerUp']}: {margin['difference']:+.4f} "
            f"± {1.96 * margin['standardError']:.4f} (95 %)"
            + (", within noise" if margin.get("withinNoise") else "")
        )
    for name, why in details.get("skipped", {}).items():
        lines.append(f"  {name}: {why}")
    cut = selection.get("plan", {}).get("cut") or selection.get("plan", {}).get("easeServed")
    if cut:
        lines.append(f"  {cut}")
    return lines


BASELINE_METRIC = "popularity"


# Plain-language explanations shown under the evaluation table ("K" is the number of suggestions).
METRIC_EXPLANATIONS = {
    "hitRate": "HitRate@{k}: how often the item the customer really bought was among the {k} suggestions.",
    "precision": "Precision@{k}: the share of the {k} suggestions that the customer actually bought.",
    "recall": "Recall@{k}: the share of the items held out from each test order that the suggestions found.",
    "coverage": "Coverage@{k}: how often the method had any suggestion at all for the cart.",
}


CART_ORDER_NOTE = "Items added to the cart last count most: in your orders, the next item follows them."


def scorer_explanation(name: str | None, params: dict[str, Any] | None = None) -> str:
    """The plain-language line for a scorer, or for a blend of two ("ease+ease_decay"), and
    what its cart decay means when training found that the shop's line order matters."""
    if name and "+" in name:
        first, _, second = name.partition("+")
        text = f"A blend of {first} and {second}: both scores, weighted, added up."
    else:
        spec = SCORERS.get(name or "")
        text = spec.label if spec is not None else ""
    if text and (params or {}).get("cart_decay", 1.0) < 1.0:
        text = f"{text} {CART_ORDER_NOTE}"
    return text


ACTIVE_RUN_STATUSES = {RunStatus.RUNNING}


def live_config(shop_id: int) -> dict[str, Any] | None:
    """The metric the API serves with, when it was trained and on how many orders."""
    config = db.session.scalar(select_for_shop(RecommenderConfig, shop_id))
    if config is None:
        return None
    return {
        "metric": config.metric,
        "explanation": scorer_explanation(config.metric, config.params),
        "trained_at": aware(config.trained_at),
        "train_orders": config.train_orders,
        "model_version": config.model_version,
        "status": config.status,
        "status_message": config.status_message,
        "k": config.k,
        "live_choice": config.live_choice,  # set when live traffic made this scorer live
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
    from posai_app.training.services import run_is_alive, running_run

    if run.status == RunStatus.RUNNING and not run_is_alive(run):
        # Its heartbeat went stale since the caller last looked (a worker died): retire it now, so
        # the page never shows a dead run as "running" in the instant before the next poll does.
        running_run(shop_id)
        db.session.refresh(run)
    out = _run_dict(run)
    out["active"] = run.status in ACTIVE_RUN_STATUSES and (
        run.status != RunStatus.RUNNING or run_is_alive(run)
    )
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
        .where(EvaluationRun.status == RunStatus.SUCCEEDED)
        .order_by(EvaluationRun.started_at.desc(), EvaluationRun.id.desc())
        .limit(1)
    )
    if run is None:
        return None
    report = run.results or {}
    k = report.get("k") or run.k
    chosen = run.chosen_metric or report.get("best")
    live = db.session.scalar(sa.select(RecommenderConfig.metric).where(of_shop(RecommenderConfig, shop_id)))
    if live and live in (report.get("results") or {}):
        chosen = live  # the champion–challenger test may have made the runner-up live since
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
        .where(EvaluationRun.status == RunStatus.SUCCEEDED)
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


def max_run_id(shop_id: int) -> int:
    """The id of the shop's newest evaluation run (0 when none)."""
    query = sa.select(sa.func.max(EvaluationRun.id)).where(of_shop(EvaluationRun, shop_id))
    return db.session.scalar(query) or 0

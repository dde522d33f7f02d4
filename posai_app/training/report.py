"""Plain-text rendering of an evaluation run (CLI and logs)."""

from __future__ import annotations

from posai_app.models import EvaluationRun


def format_report(run: EvaluationRun) -> str:
    if run.status != "succeeded" or not run.results:
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

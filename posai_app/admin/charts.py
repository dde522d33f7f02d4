"""Server-side inline SVG charts: no chart library, no CDN, readable without JavaScript.

Both charts scale with their container (viewBox + width 100%), carry a <title>/<desc>
for screen readers, and escape every label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

CHOSEN, BASELINE, OTHER = "chart-bar--chosen", "chart-bar--baseline", "chart-bar--other"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _nice_max(value: float) -> float:
    """An axis maximum at or above value: the next 10% step (at least 10%)."""
    steps = [0.1 * i for i in range(1, 11)]
    return next((s for s in steps if value <= s + 1e-12), 1.0)


def bar_chart(rows: Sequence[dict[str, Any]], *, k: int, chart_id: str = "hitrate-chart") -> Markup:
    """Horizontal bars of HitRate@K per scorer; the chosen scorer and the baseline stand out."""
    rows = [r for r in rows if r.get("hitRate") is not None]
    if not rows:
        return Markup("")
    label_w, bar_w, value_w, row_h, top, bottom = 150, 270, 60, 30, 10, 28
    width = label_w + bar_w + value_w
    height = top + row_h * len(rows) + bottom
    axis_max = _nice_max(max(r["hitRate"] for r in rows))
    title = f"HitRate@{k} per scoring method"
    best = next((r for r in rows if r.get("chosen")), None)
    desc = "; ".join(f"{r['metric']}: {_pct(r['hitRate'])}" for r in rows)
    if best:
        desc = f"Chosen: {best['metric']}. " + desc
    parts = _svg_open("bars", chart_id, width, height, title, desc)
    # Grid lines every 10% (or 20% on wide axes) so bars can be compared at a glance.
    step = 0.1 if axis_max <= 0.5 else 0.2
    tick = 0.0
    while tick <= axis_max + 1e-9:
        x = label_w + bar_w * tick / axis_max
        parts.append(
            f'<line class="chart-grid" x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - bottom + 2}"/>'
        )
        parts.append(
            f'<text class="chart-axis" x="{x:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{tick * 100:.0f}%</text>"
        )
        tick += step
    for i, row in enumerate(rows):
        y = top + i * row_h
        w = max(1.0, bar_w * row["hitRate"] / axis_max)
        cls = CHOSEN if row.get("chosen") else BASELINE if row.get("baseline") else OTHER
        name = row["metric"] + (" (baseline)" if row.get("baseline") else "")
        marker = " ★" if row.get("chosen") else ""
        parts.append(f'<g class="chart-row {cls}">')
        parts.append(f"<title>{escape(name)}: HitRate@{k} {_pct(row['hitRate'])}</title>")
        parts.append(
            f'<text class="chart-label" x="{label_w - 8}" y="{y + row_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(_short(name, 22))}{marker}</text>'
        )
        parts.append(
            f'<rect class="chart-bar" x="{label_w}" y="{y + 5}" width="{w:.1f}" '
            f'height="{row_h - 10}" rx="3"/>'
        )
        parts.append(
            f'<text class="chart-value" x="{label_w + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">'
            f"{_pct(row['hitRate'])}</text>"
        )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every interpolated label went through escape())


def trend_chart(points: Sequence[dict[str, Any]], *, k: int, chart_id: str = "trend-chart") -> Markup:
    """A small line chart of the live metric's HitRate@K over past runs, the baseline dashed."""
    points = [p for p in points if p.get("hitRate") is not None]
    if len(points) < 2:
        return Markup("")
    width, height, left, right, top, bottom = 480, 170, 44, 16, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [p["hitRate"] for p in points] + [p["baseline"] for p in points if p.get("baseline") is not None]
    axis_max = _nice_max(max(values) if values else 0.1)

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (plot_w * i / (len(points) - 1))
        return x, top + plot_h * (1 - value / axis_max)

    first, last = points[0], points[-1]
    title = f"HitRate@{k} of the live method over the last {len(points)} trainings"
    desc = (
        f"From {_pct(first['hitRate'])} ({first.get('metric')}) "
        f"to {_pct(last['hitRate'])} ({last.get('metric')})."
    )
    parts = _svg_open("trend", chart_id, width, height, title, desc)
    parts += _horizontal_grid(left, width - right, top, plot_h, lambda frac: f"{axis_max * frac * 100:.0f}%")
    baseline = [(i, p["baseline"]) for i, p in enumerate(points) if p.get("baseline") is not None]
    if len(baseline) >= 2:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in baseline))
        parts.append(f'<polyline class="chart-line chart-line--baseline" points="{coords}"/>')
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, p["hitRate"]) for i, p in enumerate(points)))
    parts.append(f'<polyline class="chart-line chart-line--live" points="{coords}"/>')
    for i, p in enumerate(points):
        x, y = xy(i, p["hitRate"])
        when = _date(p.get("at"))
        parts.append(
            f'<circle class="chart-point" cx="{x:.1f}" cy="{y:.1f}" r="4"><title>'
            f"{escape(when)} · {escape(p.get('metric') or '')}: {_pct(p['hitRate'])}"
            f"{' (bestsellers ' + _pct(p['baseline']) + ')' if p.get('baseline') is not None else ''}"
            f"</title></circle>"
        )
    first_label = escape(_date(first.get("at")))
    parts.append(f'<text class="chart-axis" x="{left}" y="{height - 8}">{first_label}</text>')
    parts.append(
        f'<text class="chart-axis" x="{width - right}" y="{height - 8}" text-anchor="end">'
        f"{escape(_date(last.get('at')))}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every interpolated label went through escape())


def _svg_open(kind: str, chart_id: str, width: int, height: int, title: str, desc: str) -> list[str]:
    """An accessible chart's opening: the <svg> with its viewBox, and its <title> and <desc>."""
    cid = escape(chart_id)
    return [
        f'<svg class="chart chart--{kind}" id="{cid}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-labelledby="{cid}-title {cid}-desc" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]


def _horizontal_grid(x1: float, x2: float, top: float, plot_h: float, label) -> list[str]:
    """Grid lines at 0, ½ and the top of the axis, each labelled `label(fraction)` on the left."""
    parts = []
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        parts.append(f'<line class="chart-grid" x1="{x1}" y1="{y:.1f}" x2="{x2}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="chart-axis" x="{x1 - 6}" y="{y + 4:.1f}" text-anchor="end">{label(frac)}</text>'
        )
    return parts


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else ""


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def daily_impact_chart(days: Sequence[dict[str, Any]], *, chart_id: str = "impact-chart") -> Markup:
    """Per-day columns of suggestions shown, with the part added by cashiers drawn inside them."""
    if not days or not any(d["shown"] or d["added"] for d in days):
        return Markup("")
    width, height, left, right, top, bottom = 480, 170, 36, 10, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(d["shown"], d["added"]) for d in days)
    step = plot_w / len(days)
    title = f"Suggestions shown and added per day, last {len(days)} days"
    desc = f"{sum(d['shown'] for d in days)} shown, {sum(d['added'] for d in days)} added."
    parts = _svg_open("daily", chart_id, width, height, title, desc)
    parts += _horizontal_grid(left, width - right, top, plot_h, lambda frac: f"{peak * frac:.0f}")
    for i, d in enumerate(days):
        x = left + i * step + step * 0.1
        w = max(1.0, step * 0.8)
        for value, cls in ((d["shown"], OTHER), (d["added"], CHOSEN)):
            h = plot_h * value / peak
            parts.append(
                f'<rect class="chart-bar {cls}" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{w:.1f}" '
                f'height="{h:.1f}"><title>{escape(str(d["day"]))}: {d["shown"]} shown, {d["added"]} added, '
                f"{escape(str(d['revenue']))} attributed</title></rect>"
            )
    first, last = days[0]["day"], days[-1]["day"]
    parts.append(f'<text class="chart-axis" x="{left}" y="{height - 8}">{escape(str(first))}</text>')
    parts.append(
        f'<text class="chart-axis" x="{width - right}" y="{height - 8}" text-anchor="end">'
        f"{escape(str(last))}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every interpolated label went through escape())

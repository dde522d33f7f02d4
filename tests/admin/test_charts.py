"""Server-side SVG charts: escaped labels, scaled bars, the chosen scorer and baseline marked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from posai_app.admin.charts import bar_chart, trend_chart

ROWS = [
    {"metric": "cosine", "hitRate": 0.42, "chosen": True, "baseline": False},
    {"metric": "<script>alert(1)</script>", "hitRate": 0.21, "chosen": False, "baseline": False},
    {"metric": "popularity", "hitRate": 0.1, "chosen": False, "baseline": True},
    {"metric": "no-figures", "hitRate": None, "chosen": False, "baseline": False},
]


def test_bar_chart_is_well_formed_svg_with_escaped_labels():
    svg = str(bar_chart(ROWS, k=2))
    root = ElementTree.fromstring(svg)  # parses: well-formed, no raw markup injected
    assert root.get("role") == "img"
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count('class="chart-bar"') == 3  # the row without figures is left out
    assert "chart-bar--chosen" in svg and "chart-bar--baseline" in svg
    widths = [float(w) for w in re.findall(r'class="chart-bar" x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] == max(widths) and abs(widths[0] / widths[1] - 2) < 0.01


def test_bar_chart_of_nothing_is_empty():
    assert str(bar_chart([], k=2)) == ""


def test_trend_chart_needs_two_runs_and_plots_each():
    now = datetime.now(UTC)
    points = [
        {"at": now - timedelta(days=i), "metric": "cosine", "hitRate": 0.3 + i / 100, "baseline": 0.1}
        for i in range(3, 0, -1)
    ]
    assert str(trend_chart(points[:1], k=2)) == ""
    svg = str(trend_chart(points, k=2))
    ElementTree.fromstring(svg)
    assert svg.count('class="chart-point"') == 3
    assert "chart-line--baseline" in svg


def test_a_blend_has_an_explanation():
    from posai_app.training.report import scorer_explanation

    assert (
        scorer_explanation("ease+ease_decay")
        == "A blend of ease and ease_decay: both scores, weighted, added up."
    )
    assert scorer_explanation("ease").startswith("A model fitted")
    assert scorer_explanation(None) == ""


def test_a_learnt_cart_order_is_said_in_plain_words():
    from posai_app.training.report import CART_ORDER_NOTE, scorer_explanation

    assert scorer_explanation("ease", {"lam": 6.5, "cart_decay": 0.5}).endswith(CART_ORDER_NOTE)
    assert CART_ORDER_NOTE not in scorer_explanation("ease", {"lam": 6.5})
    assert scorer_explanation("a+b", {"of": ["a", "b"], "cart_decay": 0.25}).endswith(CART_ORDER_NOTE)

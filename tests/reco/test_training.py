"""train(): honest selection on the inner split, report shape, serving index, budget."""

from __future__ import annotations

import numpy as np
import pytest

from posai_app.reco import train
from posai_app.reco.orders import Order
from tests.reco.conftest import SMALL, orders_from


def synthetic(n: int = 1500, variants: int = 60, seed: int = 0) -> list[Order]:
    """Pairs (2i, 2i+1) are bought together, plus Zipf noise."""
    rng = np.random.default_rng(seed)
    baskets = []
    for _ in range(n):
        pair = int(rng.integers(variants // 2)) * 2
        noise = rng.zipf(1.5, size=int(rng.integers(0, 3))) % variants
        baskets.append([str(v) for v in dict.fromkeys([pair, *noise.tolist(), pair + 1])])
    return orders_from(baskets, 0.1)


@pytest.fixture(scope="module")
def result():
    return train(synthetic(), k=2, top_n=10)


def test_report_keeps_the_issue_3_keys_and_adds_details(result):
    out = result.report.to_dict()
    assert list(out)[:5] == ["k", "trainOrders", "evaluatedOrders", "results", "best"]
    assert out["trainOrders"] == 1200
    assert {"cooccurrence", "cosine", "confidence", "lift", "jaccard", "popularity", "ease"} <= set(
        out["results"]
    )
    details = out["details"]
    assert details["params"]["ease"]["lam"] in (30.0, 100.0)
    assert details["selection"]["innerTrainOrders"] == 960
    assert out["best"] == result.metric == details["selection"]["chosen"]


def test_choice_is_made_on_the_inner_split_only(result):
    inner = result.report.selection["innerHitRate"]
    best = max(inner.values())
    first_best = next(name for name, hit in inner.items() if hit == best)
    from posai_app.reco import SELECTION_ORDER

    assert result.metric == min((n for n, h in inner.items() if h == best), key=SELECTION_ORDER.index)
    assert first_best in inner


def test_the_index_is_built_on_all_orders_and_answers_pairs(result):
    assert result.train_orders == 1500
    assert result.index.counts["0"] > 0
    assert result.index.recommend(["4"], 1)[0][0] == "5"
    assert len(list(result.index.to_rows())) > 0
    assert result.params == result.report.params[result.metric]


def test_tiny_history_falls_back_without_failing():
    result = train(orders_from(SMALL), k=2)
    assert result.report.evaluated_orders == 0
    assert result.metric == "cooccurrence"
    assert result.index is not None


def test_no_budget_skips_expensive_candidates_and_says_so():
    result = train(synthetic(400), time_budget=0.0)
    skipped = result.report.skipped
    assert "ease" in skipped and "budget" in skipped["ease"]
    assert "ease" not in result.report.results
    assert result.metric in result.report.results


def test_progress_is_reported():
    seen = []
    train(synthetic(300), progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = {p for p, _, _ in seen}
    assert {"statistics", "tuning", "evaluating", "index"} <= phases
    assert all(0 <= d <= t for _, d, t in seen)

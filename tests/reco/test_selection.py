"""train(): selection on rolling inner folds, report shape, serving index, planned work."""

from __future__ import annotations

import numpy as np
import pytest

from posai_app.reco import train
from posai_app.reco.orders import Order
from posai_app.reco.stats import History
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
    selection = details["selection"]
    # λ comes from a grid scaled to the data (around the mean diagonal of XᵀX), listed in the report
    assert details["params"]["ease"]["lam"] in [p["lam"] for p, _ in selection["grids"]["ease"]]
    assert [f["trainOrders"] for f in selection["folds"]] == [840, 960, 1080]
    assert out["best"] == result.metric == selection["chosen"]


def test_every_candidate_is_tuned_and_reported_none_skipped(result):
    from posai_app.reco import SELECTION_ORDER

    assert set(SELECTION_ORDER) <= set(result.report.results)
    assert result.report.skipped == {}
    assert set(result.report.selection["innerInterval95"]) == set(SELECTION_ORDER)


def test_choice_follows_the_pooled_fold_rule(result):
    from posai_app.reco import SELECTION_ORDER

    selection = result.report.selection
    inner = selection["innerHitRate"]
    leader = min(inner, key=lambda n: (-inner[n], SELECTION_ORDER.index(n)))
    assert selection["margin"]["leader"] == leader
    blend = selection["blend"]
    if result.metric == blend["name"]:
        assert result.params["of"] == [leader, selection["margin"]["runnerUp"]]
        assert result.params["weight"] == blend["weight"]
    else:
        assert result.metric == leader
    for name, (lo, hi) in selection["innerInterval95"].items():
        assert lo <= inner[name] <= hi


def test_a_blend_is_served_when_it_does_as_well_as_the_leader():
    # Pairs only: every candidate finds the partner, the two best tie cart by cart, the blend serves.
    rng = np.random.default_rng(1)
    pairs = [[str(2 * p), str(2 * p + 1)] for p in rng.integers(0, 30, size=800).tolist()]
    result = train(orders_from(pairs), k=2, top_n=10, candidates=["cooccurrence", "asymmetric"])
    selection = result.report.selection
    assert selection["margin"]["difference"] == 0.0 and selection["margin"]["withinNoise"]
    name = selection["blend"]["name"]
    assert name == "cooccurrence+asymmetric"
    assert result.metric == name and name in result.report.results
    assert result.params["of"] == ["cooccurrence", "asymmetric"]
    assert result.index.recommend(["4"], 1)[0][0] == "5"


def test_the_index_is_built_on_all_orders_and_answers_pairs(result):
    assert result.train_orders == 1500
    assert result.index.counts["0"] > 0
    assert result.index.recommend(["4"], 1)[0][0] == "5"
    assert len(list(result.index.to_rows())) > 0
    assert result.params == result.report.params[result.metric]


def test_tiny_history_falls_back_without_failing():
    result = train(orders_from(SMALL), k=2)
    assert result.report.evaluated_orders == 0
    # one inner cart: every difference is noise, so the two best (tied) are blended
    assert result.metric == "cooccurrence+cosine"
    assert result.index is not None


def test_dense_ease_cut_is_planned_from_the_shape_and_stated(monkeypatch):
    from posai_app.reco import selection as training

    monkeypatch.setattr(training, "EASE_WORK", 1e6)  # room for a 500-variant head at most
    monkeypatch.setattr(training, "EASE_MIN_VARIANTS", 10)
    result = train(synthetic(600, 60), candidates=["cosine", "ease"])
    plan = result.report.selection["plan"]
    assert plan["easeTuningVariants"] < plan["knownVariants"]
    assert "most-bought" in plan["cut"]
    assert "ease" in result.report.results and result.report.skipped == {}


def test_without_timestamps_decayed_candidates_are_left_out_and_said():
    history = History.from_orders(synthetic(600))
    history.has_times = False  # what orders.py sets when the file has no usable created_at
    result = train(history, k=2, top_n=10)
    for name in ("asymmetric_decay", "rp3beta_decay", "ease_decay"):
        assert name not in result.report.results
        assert "no timestamps" in result.report.skipped[name]
    assert "ease" in result.report.results


def test_progress_is_reported():
    seen = []
    train(synthetic(300), progress=lambda phase, done, total: seen.append((phase, done, total)))
    phases = {p for p, _, _ in seen}
    assert {"statistics", "tuning", "evaluating", "index"} <= phases
    assert all(0 <= d <= t for _, d, t in seen)


def test_a_sparse_catalog_beyond_the_dense_plan_serves_sparse_ease_on_every_variant(monkeypatch):
    from posai_app.reco import selection as training

    monkeypatch.setattr(training, "EASE_WORK", 1e5)  # a 29-variant head for the served fits
    monkeypatch.setattr(training, "EASE_MIN_VARIANTS", 10)
    result = train(synthetic(800, 60), candidates=["cosine", "ease"])
    plan = result.report.selection["plan"]
    assert "sparse approximation" in plan["easeServed"]
    assert result.report.results["ease"]["hitRate"] > 0
    assert result.index is not None


def test_the_run_report_says_how_the_live_metric_was_chosen(result):
    from posai_app.models import EvaluationRun
    from posai_app.training.report import format_report

    run = EvaluationRun(
        id=1, status="succeeded", k=2, results=result.report.to_dict(), chosen_metric=result.metric
    )
    run.duration_seconds = 1.0
    text = format_report(run)
    assert f"live metric: {result.metric}" in text
    assert "chosen on 3 rolling inner folds" in text
    margin = result.report.selection["margin"]
    assert f"inner lead of {margin['leader']} over {margin['runnerUp']}" in text


def _walks(n: int, shuffled: bool, seed: int = 4) -> list[Order]:
    """Baskets of 4 consecutive items around a cycle of 6 (10 such groups), in walking order.

    Unordered, a cart's two neighbours on the cycle (the next item, and the one before its
    first) tie; only the item added last tells them apart. `shuffled` lists each basket's
    items in random order: then the order carries nothing.
    """
    rng = np.random.default_rng(seed)
    baskets = []
    for _ in range(n):
        group, start = int(rng.integers(10)), int(rng.integers(6))
        items = [str(group * 6 + (start + i) % 6) for i in range(4)]
        baskets.append(rng.permutation(items).tolist() if shuffled else items)
    return orders_from(baskets, 0.1)


def test_a_shop_whose_line_order_tells_the_next_item_gets_a_cart_decay():
    result = train(_walks(1500, shuffled=False), k=1, top_n=10, candidates=["asymmetric", "rp3beta"])
    decays = result.report.selection["cartDecay"]
    assert all(d["chosen"] < 1.0 for d in decays.values())
    assert result.index.cart_decay < 1.0
    assert result.params.get("cart_decay") == result.index.cart_decay
    # The newest item decides: after 0, 1, 2 comes 3, not 5 (which precedes 0 on the cycle).
    assert result.index.recommend(["0", "1", "2"], 1)[0][0] == "3"
    assert result.index.recommend(["2", "1", "0"], 1)[0][0] == "5"
    assert result.report.results[result.metric]["hitRate"] > 0.9


def test_a_shop_whose_line_order_means_nothing_keeps_every_cart_item_at_full_weight():
    result = train(_walks(1500, shuffled=True), k=1, top_n=10, candidates=["asymmetric", "rp3beta"])
    decays = result.report.selection["cartDecay"]
    assert {d["chosen"] for d in decays.values()} == {1.0}
    assert set(decays["asymmetric"]["innerHitRate"]) == {"1.0", "0.5", "0.25", "0.125"}
    assert result.index.cart_decay == 1.0 and "cart_decay" not in result.params


def test_a_single_leader_with_a_cart_decay_is_fitted_with_its_own_settings():
    # One candidate: no runner-up and no blend, so the leader itself is served with its decay.
    result = train(_walks(1500, shuffled=False), k=1, top_n=10, candidates=["rp3beta"])
    assert result.metric == "rp3beta"
    assert result.params["cart_decay"] == result.index.cart_decay < 1.0
    assert result.index.recommend(["0", "1", "2"], 1)[0][0] == "3"

"""Champion–challenger through the real endpoints: carts assigned to the challenger get its answer
(arm and scorer in the id), events and orders are counted per arm, the admin shows both arms,
and "make the challenger live" (the merchant's button, or the nightly check when opted in)
swaps the arms of that shop only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from posai_app import schedule
from posai_app.extensions import db
from posai_app.impact import arms, challenger, ids
from posai_app.impact import report as impact_report
from posai_app.models import (
    ChallengerSwitch,
    ImpactAdded,
    ImpactLine,
    ImpactOrder,
    ImpactShown,
    RecommenderConfig,
    Shop,
)
from posai_app.serving import store
from tests.api.conftest import NEIGHBORS, STATS, add_catalog
from tests.impact.conftest import added, shown
from tests.impact.test_report import _now, _order, deliver, no_training  # noqa: F401  (fixtures)
from tests.serving.seed import seed_index

# The challenger's index ranks 1003 first for a mug (the champion's, tests/api/conftest.py, does not).
CHALLENGER_NEIGHBORS = {1001: [(1003, 9.0), (1002, 1.0)], 1002: [(1001, 2.0)], 1003: [(1001, 2.0)]}
SHARE = 20


def _rows(neighbors):
    return [(s, t, int(score) + 1, score) for s, targets in neighbors.items() for t, score in targets]


def add_arms(shop_id: int, *, share: int = SHARE, with_challenger: bool = True, auto: bool = False) -> None:
    """The small shop's catalog, its champion (cosine) and challenger (ease) indexes, the settings."""
    add_catalog(shop_id)
    seed_index(
        shop_id,
        _rows(NEIGHBORS),
        STATS,
        challenger=("ease", _rows(CHALLENGER_NEIGHBORS)) if with_challenger else None,
    )
    db.session.add(
        RecommenderConfig(
            shop_id=shop_id,
            metric="cosine",
            challenger_metric="ease" if with_challenger else None,
            params={"champion": True},
            challenger_params={"challenger": True},
            model_version=1,
            status="trained",
        )
    )
    db.session.get(Shop, shop_id).settings = {"challenger_share": share, "challenger_auto_switch": auto}


@pytest.fixture
def arms_shop(app, shop):
    with app.app_context():
        add_arms(shop.id)
        db.session.commit()
    return shop


@pytest.fixture
def hx(auth_headers):
    return lambda shop: {**auth_headers(shop), "HX-Request": "true"}


def _carts(app, shop_id: int, share: int = SHARE) -> tuple[list[list[int]], list[list[int]]]:
    """(challenger carts, champion carts) among mugs with one other (unknown) item."""
    key = arms.assignment_key(app.config)
    carts = [[1001, other] for other in range(5000, 5100)]
    chosen = [c for c in carts if arms.arm_for(key, shop_id, c, share) == "challenger"]
    return chosen, [c for c in carts if c not in chosen]


def _verified(app, answer, shop_id):
    return ids.verify(ids.signing_key(app.config), answer["recommendationId"], shop_id)


def test_assigned_carts_get_the_challengers_answer_with_its_arm_and_scorer_in_the_id(
    app, arms_shop, recommend
):
    challenger_carts, champion_carts = _carts(app, arms_shop.id)
    # 100 carts at 20 %: Binomial(100, 0.2) is 20 ± 4; these bounds are 2.5 standard deviations.
    assert 10 <= len(challenger_carts) <= 30
    for cart in challenger_carts:
        answer = recommend(arms_shop, cart)
        rec = _verified(app, answer, arms_shop.id)
        assert (rec.arm, rec.metric, answer["metric"], rec.model_version) == ("challenger", "ease", "ease", 1)
        assert answer["recommendations"][0]["variantId"] == "1003"
    for cart in champion_carts[:30]:
        answer = recommend(arms_shop, cart)
        rec = _verified(app, answer, arms_shop.id)
        assert (rec.arm, rec.metric, answer["metric"]) == ("champion", "cosine", "cosine")
        assert answer["recommendations"][0]["variantId"] != "1003"


def test_warm_requests_of_both_arms_run_no_sql(app, arms_shop, recommend):
    from tests.api.test_request_caches import counting_statements

    challenger_carts, champion_carts = _carts(app, arms_shop.id)
    carts = [challenger_carts[0], champion_carts[0]]
    first = [recommend(arms_shop, c) for c in carts]
    with counting_statements(app) as statements:
        again = [recommend(arms_shop, c) for c in carts]
    assert statements == []
    assert [a["metric"] for a in again] == [a["metric"] for a in first] == ["ease", "cosine"]


def test_a_cart_keeps_its_arm_on_every_call_whatever_the_order_of_its_items(app, arms_shop, recommend):
    challenger_carts, champion_carts = _carts(app, arms_shop.id)
    for cart in (challenger_carts[0], champion_carts[0]):
        answers = [recommend(arms_shop, c) for c in (cart, cart[::-1], cart, [*cart, cart[0]])]
        assert len({_verified(app, a, arms_shop.id).arm for a in answers}) == 1
        assert len({tuple(r["variantId"] for r in a["recommendations"]) for a in answers}) == 1


def test_share_zero_or_no_challenger_index_gives_everyone_the_champion(app, shop, other_shop, recommend):
    with app.app_context():
        add_arms(shop.id, share=0)
        add_arms(other_shop.id, share=50, with_challenger=False)
        db.session.commit()
    for who in (shop, other_shop):
        for cart in ([1001, other] for other in range(5000, 5040)):
            answer = recommend(who, cart)
            assert _verified(app, answer, who.id).arm == "champion" and answer["metric"] == "cosine"


def test_events_and_orders_are_counted_per_arm(app, arms_shop, recommend, send_events, deliver):  # noqa: F811
    challenger_carts, champion_carts = _carts(app, arms_shop.id)
    mine = recommend(arms_shop, challenger_carts[0])
    theirs = recommend(arms_shop, champion_carts[0])
    again = recommend(arms_shop, champion_carts[1])
    events = [shown(mine), shown(theirs), shown(again), added(mine, mine["recommendations"][0]["variantId"])]
    assert send_events(arms_shop, events).get_json()["accepted"] == 4
    # The challenger's answer is tagged on an order (a hit); the champion's first cart becomes an
    # order without its items (shown, not a hit); the second never becomes an order.
    order = _order(
        31,
        {**mine["recommendations"][0], "recommendationId": mine["recommendationId"]},
        [mine["recommendationId"]],
        updated_at=_now(),
    )
    deliver(arms_shop, "orders/create", order, "wh-arm-1")
    plain = _order(
        32,
        {**theirs["recommendations"][0], "recommendationId": "not-ours"},
        [theirs["recommendationId"]],
        updated_at=_now(),
    )
    plain["line_items"] = [li for li in plain["line_items"] if li["variant_id"] == 1003]
    deliver(arms_shop, "orders/create", plain, "wh-arm-2")
    with app.app_context():
        arms_of = dict(db.session.execute(sa.select(ImpactShown.recommendation_id, ImpactShown.arm)).all())
        assert arms_of[mine["recommendationId"]] == "challenger"
        assert arms_of[theirs["recommendationId"]] == "champion"
        assert {line.arm for line in db.session.scalars(sa.select(ImpactLine))} == {"challenger"}
        report = challenger.arm_report(arms_shop.id, 30)
        assert report["counts"] == {
            "champion": {"shown": 2, "attached": 0, "orders": 1, "hits": 0},
            "challenger": {"shown": 1, "attached": 1, "orders": 1, "hits": 1},
        }
        assert report["comparison"].attach.verdict == "too_few"
        scorers = {r["key"] for r in impact_report.impact_report(arms_shop.id, 30)["by"]["scorer"]}
        assert scorers == {"cosine", "ease (challenger)"}


def _seed_arm(shop_id, arm, metric, *, shown_n, attached, orders, hits, at=None):
    """`shown_n` shown recommendations of one arm, `attached` of them with an add, `orders` of
    them in an order, `hits` of those orders holding a shown item."""
    at = at or datetime.now(UTC) - timedelta(days=1)
    for i in range(shown_n):
        rec_id = f"{arm}-{metric}-{i}-{uuid.uuid4().hex[:6]}"
        common = {"shop_id": shop_id, "recommendation_id": rec_id, "metric": metric, "arm": arm}
        db.session.add(
            ImpactShown(
                **common,
                event_id=uuid.uuid4().hex,
                model_version=1,
                issued_at=at,
                shown_at=at,
                variant_ids=["1002"],
            )
        )
        if i < attached:
            db.session.add(
                ImpactAdded(
                    **common, variant_id=1002, event_id=uuid.uuid4().hex, model_version=1, added_at=at
                )
            )
        if i < orders:
            db.session.add(ImpactOrder(**common, order_id=10_000 + i, created_at=at, hit=i < hits))


def _winning_challenger(shop_id):
    # Attach 30/300 against 50/300 (p = 0.0163, test_arms); HitRate 60/120 against 62/120 (no difference).
    _seed_arm(shop_id, "champion", "cosine", shown_n=300, attached=30, orders=120, hits=60)
    _seed_arm(shop_id, "challenger", "ease", shown_n=300, attached=50, orders=120, hits=62)


def test_the_impact_section_shows_both_arms_with_intervals_and_the_verdict(app, client, arms_shop, hx):
    with app.app_context():
        _winning_challenger(arms_shop.id)
        # Rows of another scorer in the challenger arm (an earlier pair) are not this test's.
        _seed_arm(arms_shop.id, "challenger", "rp3beta", shown_n=40, attached=40, orders=0, hits=0)
        db.session.commit()
    html = client.get("/app/impact?days=30", headers=hx(arms_shop)).get_data(as_text=True)
    assert 'id="challenger-arms"' in html
    # 30/300 = 10.0 % (Wilson 7.1–13.9 %); 50/300 = 16.7 % (Wilson 12.9–21.3 %).
    assert "10.0%" in html and "7.1%–13.9%" in html
    assert "16.7%" in html and "12.9%–21.3%" in html
    assert "significantly higher (p = 0.016)" in html
    assert "No significant difference in live HitRate" in html
    assert 'id="challenger-make-live"' in html and "20 % of carts" in html


def test_make_the_challenger_live_swaps_the_arms_of_that_shop_only(
    app, client, arms_shop, other_shop, hx, recommend
):
    with app.app_context():
        add_arms(other_shop.id)
        db.session.commit()
    challenger_carts, champion_carts = _carts(app, arms_shop.id)
    response = client.post("/app/challenger/live", data={"days": "30"}, headers=hx(arms_shop))
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "report-changed"
    html = response.get_data(as_text=True)
    assert "ease is live; cosine is now the challenger." in html and 'id="challenger-switches"' in html
    with app.app_context():
        config = db.session.scalar(
            sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == arms_shop.id)
        )
        assert (config.metric, config.challenger_metric, config.live_choice) == ("ease", "cosine", "ease")
        assert (config.params, config.challenger_params) == ({"challenger": True}, {"champion": True})
        assert config.model_version == 2
        switch = db.session.scalar(sa.select(ChallengerSwitch))
        assert (switch.shop_id, switch.automatic, switch.from_metric, switch.to_metric) == (
            arms_shop.id,
            False,
            "cosine",
            "ease",
        )
        assert store.load(arms_shop.id).challenger.metric == "cosine"
        theirs = db.session.scalar(
            sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == other_shop.id)
        )
        assert (theirs.metric, theirs.challenger_metric, theirs.model_version) == ("cosine", "ease", 1)
    # The API follows at once: champion carts get ease's answer, challenger carts cosine's.
    answer = recommend(arms_shop, champion_carts[0])
    assert answer["metric"] == "ease" and answer["recommendations"][0]["variantId"] == "1003"
    assert _verified(app, answer, arms_shop.id).model_version == 2
    answer = recommend(arms_shop, challenger_carts[0])
    assert answer["metric"] == "cosine" and _verified(app, answer, arms_shop.id).arm == "challenger"
    assert recommend(other_shop, champion_carts[0])["metric"] == "cosine"
    report = client.get("/app/report", headers=hx(arms_shop)).get_data(as_text=True)
    assert "The POS is using <strong>ease</strong>" in report
    assert "Made live by the champion–challenger test" in report
    assert "champion–challenger" not in client.get("/app/report", headers=hx(other_shop)).get_data(
        as_text=True
    )


def test_without_a_challenger_the_button_is_refused_and_nothing_changes(app, client, shop, hx):
    with app.app_context():
        add_arms(shop.id, with_challenger=False)
        db.session.commit()
    response = client.post("/app/challenger/live", data={"days": "7"}, headers=hx(shop))
    assert response.status_code == 422
    assert "no challenger to make live" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ChallengerSwitch)) == 0
        config = db.session.scalar(sa.select(RecommenderConfig).where(RecommenderConfig.shop_id == shop.id))
        assert (config.metric, config.model_version) == ("cosine", 1)


def test_the_button_needs_a_session_token(client, arms_shop):
    response = client.post("/app/challenger/live", data={"days": "30"}, headers={"HX-Request": "true"})
    assert response.status_code == 401


def test_the_nightly_check_switches_a_significant_winner_when_opted_in_and_only_then(app, shop, other_shop):
    with app.app_context():
        add_arms(shop.id, auto=True)
        add_arms(other_shop.id, auto=False)  # the same figures, not opted in
        _winning_challenger(shop.id)
        _winning_challenger(other_shop.id)
        db.session.commit()
        switch = challenger.check_challenger(shop.id)
        assert switch is not None and switch.automatic and switch.to_metric == "ease"
        assert switch.figures["attach"] == {
            "champion": [30, 300],
            "challenger": [50, 300],
            "p": pytest.approx(0.016309, abs=1e-6),
            "verdict": "challenger_better",
        }
        assert challenger.check_challenger(other_shop.id) is None
        configs = dict(
            db.session.execute(sa.select(RecommenderConfig.shop_id, RecommenderConfig.metric)).all()
        )
        assert configs == {shop.id: "ease", other_shop.id: "cosine"}
        # After the switch the comparison starts again (ease is now the champion, no rows yet).
        assert challenger.check_challenger(shop.id) is None
        report = challenger.arm_report(shop.id, 90)
        assert report["since_switch"] and report["comparison"].attach.verdict == "too_few"


def test_the_nightly_check_leaves_a_difference_within_noise_or_a_share_of_zero(app, shop, other_shop):
    with app.app_context():
        add_arms(shop.id, auto=True)
        _seed_arm(shop.id, "champion", "cosine", shown_n=300, attached=30, orders=120, hits=60)
        _seed_arm(shop.id, "challenger", "ease", shown_n=300, attached=36, orders=120, hits=60)
        add_arms(other_shop.id, auto=True, share=0)
        _winning_challenger(other_shop.id)
        db.session.commit()
        assert challenger.check_challenger(shop.id) is None
        assert challenger.check_challenger(other_shop.id) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ChallengerSwitch)) == 0


def test_the_nightly_job_runs_the_check_before_it_reconciles(app, shop, monkeypatch):
    from posai_app.ingest import sync

    with app.app_context():
        add_arms(shop.id, auto=True)
        _winning_challenger(shop.id)
        db.session.commit()
        seen = []

        def reconcile(shop_id):
            seen.append(
                db.session.scalar(
                    sa.select(RecommenderConfig.metric).where(RecommenderConfig.shop_id == shop_id)
                )
            )
            return {"continued": True}

        monkeypatch.setattr(sync, "reconcile_shop", reconcile)
        schedule.reconcile_and_retrain(shop.id)
        assert seen == ["ease"]

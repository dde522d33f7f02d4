"""Champion–challenger on live POS traffic: both arms' figures, and making the challenger live.

The arms: the live scorer (champion, `recommender_configs.metric`) and the last training's
runner-up (challenger, `challenger_metric`), which answers the shop's `challenger_share` of carts
(posai_app.api.recommendations; assignment and statistics in posai_app.impact.arms). An arm's
figures count the rows whose recommendation ids name that arm and that arm's current scorer,
over the period and since the last switch, so a switch starts a fresh comparison.

"Make the challenger live" (`make_challenger_live`, by the merchant from the admin, or by
`check_challenger` when the merchant opted in and the challenger is significantly better)
swaps the two indexes (posai_app.serving.store.swap_arms): the challenger becomes the champion
and the old champion the challenger, so the test goes on with the roles traded (a share of 0
ends it). The new champion is remembered as `live_choice`: later trainings keep it live while
it is one of their two best scorers (posai_app.training.jobs). Every switch is recorded in
`challenger_switches` with the figures it was decided on.

`check_challenger` runs in the nightly job of each shop (posai_app.schedule), before its
retrain: never on the POS request path, once a day (so the test is not peeked at per order).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from posai_app.errors import NotFound, ValidationFailed
from posai_app.extensions import db
from posai_app.impact import arms
from posai_app.impact.report import PERIODS
from posai_app.models import (
    ChallengerSwitch,
    ImpactAdded,
    ImpactOrder,
    ImpactShown,
    RecommenderConfig,
    ServingIndexBlob,
    Shop,
    aware,
    utcnow,
)
from posai_app.serving import store
from posai_app.shops.settings import locked_shop, shop_setting
from posai_app.tenancy import of_shop, select_for_shop

log = logging.getLogger(__name__)

AUTO_PERIOD_DAYS = max(PERIODS)  # the automatic check looks at the longest period the admin offers
RECENT_SWITCHES = 5


def _settings(shop_id: int) -> dict[str, Any]:
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    return {name: shop_setting(shop, name) for name in ("challenger_share", "challenger_auto_switch")}


def last_switches(shop_id: int, limit: int = RECENT_SWITCHES) -> list[ChallengerSwitch]:
    """The shop's latest switches, newest first."""
    return list(
        db.session.scalars(
            select_for_shop(ChallengerSwitch, shop_id)
            .order_by(ChallengerSwitch.switched_at.desc(), ChallengerSwitch.id.desc())
            .limit(limit)
        )
    )


def _counts(shop_id: int, pairs: dict[str, str], since: datetime) -> dict[str, dict[str, int]]:
    """Per arm: shown, shown with an add, orders (not cancelled) and hits, for its current scorer."""
    out = {arm: {"shown": 0, "attached": 0, "orders": 0, "hits": 0} for arm in pairs}
    for arm, metric in pairs.items():
        shown = sa.and_(
            of_shop(ImpactShown, shop_id),
            ImpactShown.shown_at >= since,
            ImpactShown.arm == arm,
            ImpactShown.metric == metric,
        )
        out[arm]["shown"] = db.session.scalar(
            sa.select(sa.func.count()).select_from(ImpactShown).where(shown)
        )
        with_add = (
            sa.select(ImpactAdded.recommendation_id)
            .where(
                of_shop(ImpactAdded, shop_id), ImpactAdded.recommendation_id == ImpactShown.recommendation_id
            )
            .exists()
        )
        out[arm]["attached"] = db.session.scalar(
            sa.select(sa.func.count()).select_from(ImpactShown).where(shown, with_add)
        )
        orders, hits = db.session.execute(
            sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((ImpactOrder.hit, 1), else_=0)), 0)
            )
            .select_from(ImpactOrder)
            .where(
                of_shop(ImpactOrder, shop_id),
                ImpactOrder.created_at >= since,
                ImpactOrder.cancelled.is_(False),
                ImpactOrder.arm == arm,
                ImpactOrder.metric == metric,
            )
        ).one()
        out[arm]["orders"], out[arm]["hits"] = int(orders), int(hits)
    return out


def arm_report(shop_id: int, days: int, now: datetime | None = None) -> dict[str, Any]:
    """Both arms' attach rate and live HitRate with 95 % intervals, the tests and the verdict."""
    now = now or utcnow()
    config = db.session.scalar(select_for_shop(RecommenderConfig, shop_id))
    settings = _settings(shop_id)
    switches = last_switches(shop_id)
    since = now - timedelta(days=days)
    last = aware(switches[0].switched_at) if switches else None
    if last is not None and last > since:
        since = last
    champion = config.metric if config else None
    challenger = config.challenger_metric if config else None
    has_index = bool(
        challenger
        and db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ServingIndexBlob)
            .where(of_shop(ServingIndexBlob, shop_id), ServingIndexBlob.arm == store.CHALLENGER)
        )
    )
    out: dict[str, Any] = {
        "champion_metric": champion,
        "challenger_metric": challenger if has_index else None,
        "live_choice": config.live_choice if config else None,
        "share": int(settings["challenger_share"]),
        "auto_switch": bool(settings["challenger_auto_switch"]),
        "since": since,
        "since_switch": last is not None and since == last,
        "switches": switches,
        "min_sample": arms.MIN_SAMPLE,
        "comparison": None,
    }
    if not (champion and has_index):
        return out
    counts = _counts(shop_id, {"champion": champion, "challenger": challenger}, since)
    comparison = arms.compare(
        arms.Proportion(counts["champion"]["attached"], counts["champion"]["shown"]),
        arms.Proportion(counts["challenger"]["attached"], counts["challenger"]["shown"]),
        arms.Proportion(counts["champion"]["hits"], counts["champion"]["orders"]),
        arms.Proportion(counts["challenger"]["hits"], counts["challenger"]["orders"]),
    )
    out["comparison"] = comparison
    out["counts"] = counts
    return out


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """What a switch was decided on, as plain JSON (kept with the switch)."""
    comparison = report.get("comparison")
    if comparison is None:
        return {"since": report["since"].isoformat()}

    def test(t: arms.Test) -> dict[str, Any]:
        return {
            "champion": [t.champion.successes, t.champion.trials],
            "challenger": [t.challenger.successes, t.challenger.trials],
            "p": round(t.p_value, 6) if t.p_value is not None else None,
            "verdict": t.verdict,
        }

    return {
        "since": report["since"].isoformat(),
        "attach": test(comparison.attach),
        "hitRate": test(comparison.hit_rate),
    }


def make_challenger_live(
    shop_id: int, *, automatic: bool = False, days: int = AUTO_PERIOD_DAYS
) -> ChallengerSwitch:
    """Swap the arms (the challenger goes live, the old champion becomes the challenger) and record
    it, in the caller's transaction; ValidationFailed when there is no challenger to make live."""
    locked_shop(shop_id)  # two clicks at once must not swap twice and back
    before = arm_report(shop_id, days)
    config = store.swap_arms(shop_id)
    if config is None:
        raise ValidationFailed("There is no challenger to make live: train again to get one.", details={})
    config.live_choice = config.metric
    switch = ChallengerSwitch(
        shop_id=shop_id,
        switched_at=utcnow(),
        automatic=automatic,
        from_metric=config.challenger_metric,
        to_metric=config.metric,
        figures=_figures(before),
    )
    db.session.add(switch)
    db.session.flush()
    log.info(
        "shop %s: challenger %s made live %s (was %s)",
        shop_id,
        switch.to_metric,
        "automatically" if automatic else "by the merchant",
        switch.from_metric,
    )
    return switch


def check_challenger(shop_id: int, now: datetime | None = None) -> ChallengerSwitch | None:
    """Make the challenger live when the shop opted in and it is significantly better; commits."""
    settings = _settings(shop_id)
    if not settings["challenger_auto_switch"] or not settings["challenger_share"]:
        return None
    report = arm_report(shop_id, AUTO_PERIOD_DAYS, now)
    comparison = report["comparison"]
    if comparison is None or not comparison.should_switch:
        return None
    switch = make_challenger_live(shop_id, automatic=True)
    db.session.commit()
    return switch

"""Lift over organic co-purchase: were POSAI's suggestions bought more often than customers buy
the same items with the same cart items anyway? One set-based query (docs/impact.md#lift).

- A *shown pair* is (r, a, b): a recommendation r shown in the period whose cart became an order
  O that was not cancelled (impact_orders), an item b that r showed (impact_shown.variant_ids),
  and a cart item a: an item of O that no recommendation linked to O showed and that is on no
  `_posai` line of O (the order's own items stand for the cart, which the id only digests).
- *Live rate*: the share of shown pairs whose order O holds b (tapped or not).
- *Untagged orders*: the shop's latest BASELINE_ORDERS orders created before the end of the
  period, not cancelled, with no `_posai` line and no `_posai_shown` recommendation of ours (in
  neither impact_lines nor impact_orders): what customers bought without POSAI's suggestions.
- *Organic rate of a pair*: of the untagged orders holding a, the share also holding b; the
  organic rate is its mean over the shown pairs, so both rates weigh the same pairs alike.
  Pairs whose a is in no untagged order have no baseline and are left out of both.
- *Lift* = live rate ÷ organic rate (none when the organic rate is 0 or no pair has a baseline).

The query joins every untagged order holding a suggested item to its other lines, so it costs
seconds on a long history: the admin loads it as its own fragment, after the Impact figures.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from posai_app.extensions import db
from posai_app.models import ImpactLine, ImpactOrder, ImpactShown, OrderLineItem, utcnow
from posai_app.tenancy import of_shop

# The organic baseline's size: recent enough to be today's customers, bounded so the query's
# cost does not grow with the shop's whole history.
BASELINE_ORDERS = 5_000


def _shown_items(shop_id: int, since: datetime, dialect: str) -> sa.Select:
    """(recommendation_id, variant_id) of every item shown since `since`, one row per item."""
    function = sa.func.json_array_elements_text if dialect == "postgresql" else sa.func.json_each
    item = function(ImpactShown.variant_ids).table_valued("value").alias("item")
    return (
        sa.select(
            ImpactShown.recommendation_id.label("recommendation_id"),
            sa.cast(item.c.value, sa.BigInteger).label("variant_id"),
        )
        .select_from(ImpactShown)
        .join(item, sa.true())
        .where(of_shop(ImpactShown, shop_id), ImpactShown.shown_at >= since)
    )


def lift_for_period(shop_id: int, days: int, now: datetime | None = None) -> dict[str, Any]:
    """organic_lift over the last `days` days, with the period it covers."""
    until = now or utcnow()
    return {"days": days, **organic_lift(shop_id, until - timedelta(days=days), until)}


def organic_lift(shop_id: int, since: datetime, until: datetime) -> dict[str, Any]:
    """Live rate, organic rate and lift of the pairs shown between `since` and `until`."""
    statement, baseline = lift_statement(shop_id, since, until)
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        # The CTEs carry no statistics: PostgreSQL guesses one row each and nests loops over
        # them (minutes on the demo shop); hash joins answer in seconds. This statement only.
        db.session.execute(sa.text("SET LOCAL enable_nestloop = off"))
    row = db.session.execute(statement).one()
    if postgres:
        db.session.execute(sa.text("RESET enable_nestloop"))
    baseline_orders = db.session.scalar(sa.select(sa.func.count()).select_from(baseline))
    count = int(row.pairs or 0)
    live = int(row.bought) / count if count else None
    organic = float(row.organic) / count if count else None
    return {
        "pairs": count,
        "recommendations": int(row.recommendations or 0),
        "untagged_orders": int(baseline_orders or 0),
        "live_rate": live,
        "organic_rate": organic,
        "lift": live / organic if live is not None and organic else None,
    }


def lift_statement(shop_id: int, since: datetime, until: datetime) -> tuple[sa.Select, Any]:
    """The one query behind organic_lift (pairs, bought, sum of organic rates), and its baseline."""
    dialect = db.session.get_bind().dialect.name
    shown = _shown_items(shop_id, since, dialect).cte("shown")
    links = (
        sa.select(ImpactOrder.order_id, ImpactOrder.recommendation_id)
        .where(of_shop(ImpactOrder, shop_id), ImpactOrder.cancelled.is_(False))
        .cte("links")
    )
    # (r, O, b): suggestions on carts that became orders.
    suggestions = (
        sa.select(links.c.recommendation_id, links.c.order_id, shown.c.variant_id.label("b"))
        .join(shown, shown.c.recommendation_id == links.c.recommendation_id)
        .distinct()
        .cte("suggestions")
    )
    lines = OrderLineItem.__table__
    order_items = (
        sa.select(lines.c.order_id, lines.c.variant_id)
        .where(
            of_shop(OrderLineItem, shop_id),
            lines.c.variant_id.is_not(None),
            lines.c.order_id.in_(sa.select(suggestions.c.order_id)),
        )
        .distinct()
        .cte("order_items")
    )
    tagged = sa.select(ImpactLine.order_id, ImpactLine.variant_id).where(
        of_shop(ImpactLine, shop_id), ImpactLine.variant_id.is_not(None)
    )
    not_cart = sa.union(sa.select(suggestions.c.order_id, suggestions.c.b), tagged).cte("not_cart")
    anchors = (
        sa.select(order_items.c.order_id, order_items.c.variant_id.label("a"))
        .select_from(order_items)
        .outerjoin(
            not_cart,
            sa.and_(not_cart.c.order_id == order_items.c.order_id, not_cart.c.b == order_items.c.variant_id),
        )
        .where(not_cart.c.order_id.is_(None))
        .cte("anchors")
    )
    held = order_items.alias("held")
    pairs = (
        sa.select(
            suggestions.c.recommendation_id,
            anchors.c.a,
            suggestions.c.b,
            sa.case((held.c.order_id.is_not(None), 1), else_=0).label("bought"),
        )
        .select_from(suggestions)
        .join(anchors, anchors.c.order_id == suggestions.c.order_id)
        .outerjoin(
            held, sa.and_(held.c.order_id == suggestions.c.order_id, held.c.variant_id == suggestions.c.b)
        )
        .cte("pairs")
    )

    # The baseline: the latest BASELINE_ORDERS untagged orders before the period ends.
    baseline = (
        sa.select(lines.c.order_id)
        .where(
            of_shop(OrderLineItem, shop_id),
            lines.c.cancelled_at.is_(None),
            lines.c.created_at < until,
            # Uncorrelated: each list is read once and hashed, not probed per line.
            lines.c.order_id.not_in(sa.select(ImpactOrder.order_id).where(of_shop(ImpactOrder, shop_id))),
            lines.c.order_id.not_in(sa.select(ImpactLine.order_id).where(of_shop(ImpactLine, shop_id))),
        )
        .group_by(lines.c.order_id)
        .order_by(sa.func.max(lines.c.created_at).desc(), lines.c.order_id.desc())
        .limit(BASELINE_ORDERS)
        .cte("baseline")
    )

    def untagged(entity) -> list:
        """The line (of OrderLineItem or an alias of it) is on one of the baseline's orders."""
        return [of_shop(entity, shop_id), entity.order_id.in_(sa.select(baseline.c.order_id))]

    with_a = (
        sa.select(lines.c.variant_id.label("a"), sa.func.count(sa.distinct(lines.c.order_id)).label("n"))
        .where(*untagged(OrderLineItem), lines.c.variant_id.in_(sa.select(pairs.c.a)))
        .group_by(lines.c.variant_id)
        .cte("with_a")
    )
    distinct_pairs = sa.select(pairs.c.a, pairs.c.b).distinct().cte("distinct_pairs")
    # From the few untagged lines of suggested items to the other lines of their orders (by the
    # (shop_id, order_id) index): an order holding b is untagged, so its other lines are too.
    y = aliased(OrderLineItem, name="y")
    holding_b = (
        sa.select(y.order_id, y.variant_id.label("b"))
        .where(*untagged(y), y.variant_id.in_(sa.select(distinct_pairs.c.b)))
        .cte("holding_b")
    )
    x = aliased(OrderLineItem, name="x")
    with_ab = (
        sa.select(distinct_pairs.c.a, distinct_pairs.c.b, sa.func.count(sa.distinct(x.order_id)).label("n"))
        .select_from(holding_b)
        .join(x, sa.and_(of_shop(x, shop_id), x.order_id == holding_b.c.order_id))
        .join(
            distinct_pairs, sa.and_(distinct_pairs.c.a == x.variant_id, distinct_pairs.c.b == holding_b.c.b)
        )
        .group_by(distinct_pairs.c.a, distinct_pairs.c.b)
        .cte("with_ab")
    )
    rate = sa.cast(sa.func.coalesce(with_ab.c.n, 0), sa.Float) / with_a.c.n
    statement = (
        sa.select(
            sa.func.count().label("pairs"),
            sa.func.coalesce(sa.func.sum(pairs.c.bought), 0).label("bought"),
            sa.func.coalesce(sa.func.sum(rate), 0.0).label("organic"),
            sa.func.count(sa.distinct(pairs.c.recommendation_id)).label("recommendations"),
        )
        .select_from(pairs)
        .join(with_a, with_a.c.a == pairs.c.a)
        .outerjoin(with_ab, sa.and_(with_ab.c.a == pairs.c.a, with_ab.c.b == pairs.c.b))
    )
    return statement, baseline

"""The live figures of the admin's Impact section, and the CSV of attributed lines: queries only.

Over a period (the last 7, 30 or 90 days, by when things happened):
- suggestions shown (recommendations the POS reported shown) and added (suggested variants the
  cashier added); attach rate = shown recommendations with at least one add ÷ shown;
- attributed orders (orders with a `_posai` line, not cancelled) and their attributed revenue
  (net of discounts and refunds; posai_app.impact.attribution), revenue per 100 shown;
- live HitRate@K: shown recommendations whose cart became an order (not cancelled) and that
  order holds one of their ranked items, ÷ those that became an order;
- the same per staff member, per location and per scorer (metric and arm), a daily series, and
  the events refused or found already counted;
- pins against model suggestions: shown recommendations that held a merchant's pin, the pins
  added from them and their attach rate, next to the same for the other items (the model's and
  the bestseller fill) — which items were pins is what the recommendation id said when shown;
- how many shown suggestions the demo's replay simulated (posai_app.impact.simulated: the admin
  labels such figures). Lift over organic co-purchase is posai_app.impact.organic, loaded apart.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.impact import simulated
from posai_app.models import ImpactAdded, ImpactDrop, ImpactLine, ImpactOrder, ImpactShown, aware, utcnow
from posai_app.tenancy import of_shop

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
DIMENSIONS = ("staff", "location", "scorer")
CSV_COLUMNS = (
    "order_id",
    "order_name",
    "created_at",
    "line_item_id",
    "variant_id",
    "title",
    "quantity",
    "current_quantity",
    "unit_price",
    "discount",
    "revenue",
    "currency",
    "cancelled_at",
    "staff_member_id",
    "location_id",
    "source_name",
    "scorer",
    "arm",
    "model_version",
    "recommendation_id",
)


def period_days(value: Any) -> int:
    """7, 30 or 90 (anything else: the default, 30)."""
    try:
        days = int(value)
    except (TypeError, ValueError):
        return DEFAULT_PERIOD
    return days if days in PERIODS else DEFAULT_PERIOD


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _key(dimension: str, row: Any) -> Any:
    if dimension == "staff":
        return row.staff_member_id
    if dimension == "location":
        return row.location_id
    return f"{row.metric} ({row.arm})" if row.arm != "champion" else row.metric


def impact_report(shop_id: int, days: int = DEFAULT_PERIOD, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the Impact section for the last `days` days."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    shown = db.session.execute(
        sa.select(
            ImpactShown.recommendation_id,
            ImpactShown.shown_at,
            ImpactShown.staff_member_id,
            ImpactShown.location_id,
            ImpactShown.metric,
            ImpactShown.arm,
            ImpactShown.variant_ids,
            ImpactShown.pinned_variant_ids,
        ).where(of_shop(ImpactShown, shop_id), ImpactShown.shown_at >= since)
    ).all()
    added = db.session.execute(
        sa.select(
            ImpactAdded.recommendation_id,
            ImpactAdded.added_at,
            ImpactAdded.staff_member_id,
            ImpactAdded.location_id,
            ImpactAdded.metric,
            ImpactAdded.arm,
            ImpactAdded.variant_id,
        ).where(of_shop(ImpactAdded, shop_id), ImpactAdded.added_at >= since)
    ).all()
    lines = db.session.execute(
        sa.select(
            ImpactLine.order_id,
            ImpactLine.created_at,
            ImpactLine.revenue,
            ImpactLine.currency,
            ImpactLine.staff_member_id,
            ImpactLine.location_id,
            ImpactLine.metric,
            ImpactLine.arm,
        ).where(
            of_shop(ImpactLine, shop_id), ImpactLine.created_at >= since, ImpactLine.cancelled_at.is_(None)
        )
    ).all()
    links = db.session.execute(
        sa.select(ImpactOrder.hit, ImpactOrder.metric, ImpactOrder.arm).where(
            of_shop(ImpactOrder, shop_id), ImpactOrder.created_at >= since, ImpactOrder.cancelled.is_(False)
        )
    ).all()
    drops = db.session.execute(
        sa.select(ImpactDrop.reason, sa.func.sum(ImpactDrop.count))
        .where(of_shop(ImpactDrop, shop_id), ImpactDrop.day >= since.date())
        .group_by(ImpactDrop.reason)
    ).all()

    attached = {a.recommendation_id for a in added}
    shown_ids = {s.recommendation_id for s in shown}
    revenue = sum((line.revenue or Decimal(0) for line in lines), Decimal(0))
    orders = {line.order_id for line in lines if (line.revenue or 0) > 0}

    def group(dimension: str) -> list[dict[str, Any]]:
        rows: dict[Any, dict[str, Any]] = defaultdict(
            lambda: {
                "shown": 0,
                "attached": 0,
                "added": 0,
                "orders": set(),
                "revenue": Decimal(0),
                "hits": 0,
                "trials": 0,
            }
        )
        for s in shown:
            row = rows[_key(dimension, s)]
            row["shown"] += 1
            row["attached"] += s.recommendation_id in attached
        for a in added:
            rows[_key(dimension, a)]["added"] += 1
        for line in lines:
            row = rows[_key(dimension, line)]
            row["revenue"] += line.revenue or Decimal(0)
            if (line.revenue or 0) > 0:
                row["orders"].add(line.order_id)
        if dimension == "scorer":
            for link in links:
                row = rows[_key(dimension, link)]
                row["trials"] += 1
                row["hits"] += bool(link.hit)
        out = []
        for key, row in rows.items():
            out.append(
                {
                    "key": key,
                    "shown": row["shown"],
                    "added": row["added"],
                    "attach_rate": _ratio(row["attached"], row["shown"]),
                    "orders": len(row["orders"]),
                    "revenue": row["revenue"],
                    "live_hit_rate": _ratio(row["hits"], row["trials"]) if dimension == "scorer" else None,
                    "live_orders": row["trials"],
                }
            )
        return sorted(out, key=lambda r: (-r["revenue"], -r["shown"], str(r["key"])))

    return {
        "days": days,
        "since": since,
        "shown": len(shown),
        "added": len(added),
        "attach_rate": _ratio(len(attached & shown_ids), len(shown)),
        "orders": len(orders),
        "revenue": revenue,
        "currency": next((line.currency for line in lines if line.currency), None),
        "revenue_per_100": (revenue * 100 / len(shown)).quantize(Decimal("0.01")) if shown else None,
        "live_orders": len(links),
        "live_hits": sum(bool(link.hit) for link in links),
        "live_hit_rate": _ratio(sum(bool(link.hit) for link in links), len(links)),
        "by": {dimension: group(dimension) for dimension in DIMENSIONS},
        "pins": _pins(shown, added),
        "daily": _daily(shown, added, lines, since, now),
        "dropped": {reason: int(n) for reason, n in drops},
        "simulated_shown": simulated.simulated_shown(shop_id, since),
    }


def _pins(shown, added) -> dict[str, dict[str, Any]]:
    """{"pinned": ..., "model": ...}, each {"shown", "added", "attach_rate"}: shown recommendations
    holding at least one such item, adds of such an item (adds of recommendations shown in the
    period: the shown row says which items were pins), and those shown with such an add ÷ shown."""
    pins = {s.recommendation_id: {int(v) for v in s.pinned_variant_ids or ()} for s in shown}
    holding = {
        "pinned": {s.recommendation_id for s in shown if s.pinned_variant_ids},
        "model": {
            s.recommendation_id for s in shown if {int(v) for v in s.variant_ids} - pins[s.recommendation_id]
        },
    }
    adds = {"pinned": 0, "model": 0}
    attached: dict[str, set[str]] = {"pinned": set(), "model": set()}
    for a in added:
        if a.recommendation_id not in pins:
            continue
        kind = "pinned" if a.variant_id in pins[a.recommendation_id] else "model"
        adds[kind] += 1
        attached[kind].add(a.recommendation_id)
    return {
        kind: {
            "shown": len(holding[kind]),
            "added": adds[kind],
            "attach_rate": _ratio(len(attached[kind] & holding[kind]), len(holding[kind])),
        }
        for kind in ("pinned", "model")
    }


def _daily(shown, added, lines, since: datetime, now: datetime) -> list[dict[str, Any]]:
    days: dict[date, dict[str, Any]] = {}
    day = since.date()
    while day <= now.date():
        days[day] = {"day": day, "shown": 0, "added": 0, "revenue": Decimal(0)}
        day += timedelta(days=1)
    for s in shown:
        if (entry := days.get(aware(s.shown_at).date())) is not None:
            entry["shown"] += 1
    for a in added:
        if (entry := days.get(aware(a.added_at).date())) is not None:
            entry["added"] += 1
    for line in lines:
        if (entry := days.get(aware(line.created_at).date())) is not None:
            entry["revenue"] += line.revenue or Decimal(0)
    return list(days.values())


def attributed_lines_csv(shop_id: int, days: int = DEFAULT_PERIOD, now: datetime | None = None) -> str:
    """Every attributed line of the period (cancelled and refunded ones included), as CSV."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = db.session.scalars(
        sa.select(ImpactLine)
        .where(of_shop(ImpactLine, shop_id), ImpactLine.created_at >= since)
        .order_by(ImpactLine.created_at, ImpactLine.line_item_id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        cancelled = aware(r.cancelled_at)
        writer.writerow(
            [
                r.order_id,
                _cell(r.order_name),
                aware(r.created_at).isoformat(),
                r.line_item_id,
                r.variant_id or "",
                _cell(r.title),
                r.quantity,
                r.current_quantity,
                r.unit_price if r.unit_price is not None else "",
                r.discount,
                r.revenue,
                r.currency or "",
                cancelled.isoformat() if cancelled else "",
                r.staff_member_id or "",
                r.location_id or "",
                _cell(r.source_name),
                r.metric,
                r.arm,
                r.model_version,
                r.recommendation_id,
            ]
        )
    return out.getvalue()


def _cell(value: str | None) -> str:
    """Text for a spreadsheet: a leading = + - @ would be read as a formula (CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

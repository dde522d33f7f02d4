"""Orders close the loop: tagged lines become attributed upsells, shown carts become live hits.

Called by ingest (posai_app.ingest.orders) for every order version it applies (webhooks and the
GraphQL sync alike), after its guard has dropped stale and deleted payloads, in the same
transaction. For each applied order the rows below are rebuilt from that version, so a
redelivered or replayed order leaves exactly the same rows, and a refund, an edit or a
cancellation simply lowers what the newer version says:

- `impact_lines`: every line item whose `_posai` property is a recommendation id we issued to
  this shop (posai_app.impact.ids; checked against the order's time). Revenue = unit price ×
  units kept − the line's discounts for those units, in the shop's currency; 0 once the order
  is cancelled. Staff: the line's attributed staff, else the order's (`user_id`), else the
  staff member the POS reported adding it; location: the order's retail location, else the
  POS's.
- `impact_orders`: every recommendation the order's `_posai_shown` cart property lists (the
  POS sets it when it shows suggestions), and every one a tagged line names: the cart it was
  shown on became this order; `hit` says whether the order holds one of its ranked items
  (tapped or not): live HitRate@K.

A tag or listed id that is not ours (forged, another shop's, expired) is ignored and, the first
time its order is seen, counted in `impact_drops` (`order_tag`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app

from posai_app.extensions import db
from posai_app.id_lists import SQLITE_CHUNK, among, id_chunks
from posai_app.impact import ids
from posai_app.impact.events import count_drops
from posai_app.ingest.parse import parse_datetime
from posai_app.models import ImpactAdded, ImpactLine, ImpactOrder
from posai_app.tenancy import of_shop

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
_CHUNK = SQLITE_CHUNK  # recommendation ids (text) per IN list: under SQLite's parameter limit


def net_revenue(
    unit_price: Decimal | None, quantity: int, kept: int, discount: Decimal, cancelled: bool
) -> Decimal:
    """Price × units kept − the discount's share for those units (never below 0); 0 if cancelled."""
    if cancelled or unit_price is None or kept <= 0:
        return Decimal("0.00")
    share = discount * kept / quantity if quantity > 0 else discount
    return max(Decimal(0), unit_price * kept - share).quantize(CENT, rounding=ROUND_HALF_UP)


def _verified(key: bytes, shop_id: int, token: str, at: float) -> ids.Recommendation | None:
    try:
        return ids.verify(key, token, shop_id, now=at)
    except ids.InvalidRecommendationId:
        return None


def apply_orders(
    shop_id: int, orders: Iterable[Mapping[str, Any]], new_order_ids: Iterable[int] = ()
) -> None:
    """Rebuild the impact rows of these (just applied) order versions, in the caller's transaction."""
    orders = list(orders)
    if not orders:
        return
    forget_orders(shop_id, [o["order_id"] for o in orders])
    tagged = [o for o in orders if o.get("attributed_lines") or o.get("shown_ids")]
    if not tagged:
        return
    key = ids.signing_key(current_app.config)
    new = set(new_order_ids)
    lines: list[dict[str, Any]] = []
    links: dict[tuple[int, str], dict[str, Any]] = {}
    drops: Counter[str] = Counter()
    for order in tagged:
        created = parse_datetime(order["created_at"])
        at = created.timestamp()
        cancelled = order.get("cancelled_at") is not None
        kept = {li.get("variant_id") for li in order.get("line_items") or [] if li.get("variant_id")}
        version = parse_datetime(order.get("updated_at")) or created

        def link(
            rec: ids.Recommendation,
            order=order,
            created=created,
            cancelled=cancelled,
            kept=kept,
            version=version,
        ):
            links[(order["order_id"], rec.id)] = {
                "shop_id": shop_id,
                "order_id": order["order_id"],
                "recommendation_id": rec.id,
                "created_at": created,
                "metric": rec.metric,
                "arm": rec.arm,
                "hit": bool(kept & set(rec.variant_ids)),
                "cancelled": cancelled,
                "shopify_updated_at": version,
            }

        for token in order.get("shown_ids") or []:
            rec = _verified(key, shop_id, token, at)
            if rec is None:
                drops["order_tag"] += order["order_id"] in new
                continue
            link(rec)
        for line in order.get("attributed_lines") or []:
            rec = _verified(key, shop_id, line["recommendation_id"], at)
            if rec is None or (
                line.get("variant_id") is not None and line["variant_id"] not in rec.variant_ids
            ):
                drops["order_tag"] += order["order_id"] in new
                continue
            link(rec)
            quantity, current = int(line["quantity"]), int(line["current_quantity"])
            discount = Decimal(line.get("discount") or 0)
            lines.append(
                {
                    "shop_id": shop_id,
                    "line_item_id": int(line["line_item_id"]),
                    "order_id": order["order_id"],
                    "order_name": order.get("name"),
                    "created_at": created,
                    "recommendation_id": rec.id,
                    "metric": rec.metric,
                    "model_version": rec.model_version,
                    "arm": rec.arm,
                    "variant_id": line.get("variant_id"),
                    "title": (line.get("title") or "")[:500],
                    "location_id": order.get("location_id"),
                    "staff_member_id": line.get("staff_member_id") or order.get("staff_member_id"),
                    "source_name": (order.get("source_name") or None) and str(order["source_name"])[:64],
                    "currency": order.get("currency"),
                    "quantity": quantity,
                    "current_quantity": current,
                    "unit_price": line.get("unit_price"),
                    "discount": discount.quantize(CENT, rounding=ROUND_HALF_UP),
                    "revenue": net_revenue(line.get("unit_price"), quantity, current, discount, cancelled),
                    "cancelled_at": parse_datetime(order.get("cancelled_at")),
                    "shopify_updated_at": version,
                }
            )
    _fill_from_pos_events(shop_id, lines)
    if lines:
        db.session.execute(sa.insert(ImpactLine), lines)
    if links:
        db.session.execute(sa.insert(ImpactOrder), list(links.values()))
    drops = Counter({reason: n for reason, n in drops.items() if n})
    if drops:
        log.info(
            "shop %s: %d order tags were not recommendation ids of this shop", shop_id, sum(drops.values())
        )
        count_drops(shop_id, drops)


def _fill_from_pos_events(shop_id: int, lines: list[dict[str, Any]]) -> None:
    """Staff and location the order does not name (GraphQL sync; online orders) from the POS's `added`."""
    wanted = [ln for ln in lines if ln["staff_member_id"] is None or ln["location_id"] is None]
    if not wanted:
        return
    rec_ids = sorted({ln["recommendation_id"] for ln in wanted})
    found: dict[tuple[str, int], tuple[int | None, int | None]] = {}
    for start in range(0, len(rec_ids), _CHUNK):
        rows = db.session.execute(
            sa.select(
                ImpactAdded.recommendation_id,
                ImpactAdded.variant_id,
                ImpactAdded.staff_member_id,
                ImpactAdded.location_id,
            ).where(
                of_shop(ImpactAdded, shop_id),
                ImpactAdded.recommendation_id.in_(rec_ids[start : start + _CHUNK]),
            )
        )
        found.update({(r[0], r[1]): (r[2], r[3]) for r in rows})
    for line in wanted:
        staff, location = found.get((line["recommendation_id"], line["variant_id"]), (None, None))
        line["staff_member_id"] = line["staff_member_id"] or staff
        line["location_id"] = line["location_id"] or location


def forget_orders(shop_id: int, order_ids: Iterable[int]) -> None:
    """Remove the impact rows of these orders (rebuilt next by apply_orders, or deleted for good)."""
    chosen = sorted({int(i) for i in order_ids})
    for chunk in id_chunks(chosen):
        for model in (ImpactLine, ImpactOrder):
            db.session.execute(sa.delete(model).where(of_shop(model, shop_id), among(model.order_id, chunk)))

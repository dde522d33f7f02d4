"""What the POS reports: `shown` and `added` events, checked against the ids we issued, recorded once.

A batch is `{"events": [...]}`; each event names itself with a client id (the POS extension's
UUID, kept while it retries) and one recommendation id (posai_app.impact.ids):

- `shown`: `{"id", "type": "shown", "recommendationId", "variantIds": [...], "at"?, "locationId"?,
  "staffMemberId"?}`: the items the cashier saw, all of them items of that answer (which of them
  were the merchant's pins is the id's word, kept as `pinned_variant_ids`);
- `added`: `{"id", "type": "added", "recommendationId", "variantId", ...}`: a suggestion added to
  the cart (POS's `addLineItem` resolved to a line, not to "" for a dismissed add).

The shop is the session token's; the recommendation must have been issued to that shop (its
signature says so) within ids.MAX_AGE_SECONDS. A shown recommendation is recorded once (a second
`shown` for it, under any event id, is a duplicate), an added variant once per recommendation;
the same event id sent again is a duplicate. Events that fail a check are refused one by one
(`rejected`, with a reason) and everything not recorded is counted per day and reason in
`impact_drops`; a batch that is not shaped like one is a 400 and records nothing.

`locationId` and `staffMemberId` come from the POS session (`shopify.session.currentSession
.locationId`, `shopify.session.staffMember`): POS session tokens carry only the shop (`dest`)
and the logged-in user, not the device's location or the pinned staff member, so these are
the extension's word, bounded to valid ids, and only ever counted within the token's shop.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from posai_app.errors import BadRequest
from posai_app.extensions import db, insert
from posai_app.impact import ids
from posai_app.ingest.parse import parse_datetime
from posai_app.inputs import parse_id
from posai_app.models import ImpactAdded, ImpactDrop, ImpactShown, utcnow

MAX_EVENTS = 200
EVENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
TYPES = ("shown", "added")


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def parse_batch(payload: Any) -> list[Any]:
    """The batch's events; BadRequest (nothing recorded) when the batch itself is malformed."""
    if not isinstance(payload, dict) or "events" not in payload:
        raise BadRequest('Body must be a JSON object like {"events": [...]}')
    events = payload["events"]
    if not isinstance(events, list) or not events:
        raise BadRequest("Field 'events' must be a non-empty list of events")
    if len(events) > MAX_EVENTS:
        raise BadRequest(f"Field 'events' has {len(events)} events; at most {MAX_EVENTS} are allowed")
    return events


class _Refused(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def _event_time(value: Any, issued_at: datetime, now: datetime) -> datetime:
    """When the POS says it happened, kept between the answer's issue and now; else now."""
    try:
        moment = parse_datetime(value) if isinstance(value, str) and len(value) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment > now:
        return now
    return max(moment, issued_at)


def _check(event: Any, key: bytes, shop_id: int, now: datetime) -> tuple[str, dict[str, Any]]:
    """(type, row) of a valid event; _Refused with the reason otherwise."""
    if not isinstance(event, dict):
        raise _Refused("malformed")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
        raise _Refused("bad_event_id")
    kind = event.get("type")
    if kind not in TYPES:
        raise _Refused("bad_type")
    try:
        rec = ids.verify(key, event.get("recommendationId"), shop_id, now=now.timestamp())
    except ids.InvalidRecommendationId as exc:
        raise _Refused(
            "unknown_recommendation" if exc.reason in ("malformed", "signature") else exc.reason
        ) from None
    row: dict[str, Any] = {
        "shop_id": shop_id,
        "recommendation_id": rec.id,
        "event_id": event_id,
        "metric": rec.metric,
        "model_version": rec.model_version,
        "arm": rec.arm,
        "location_id": parse_id(event.get("locationId"), "Location"),
        "staff_member_id": parse_id(event.get("staffMemberId"), "StaffMember"),
    }
    at = _event_time(event.get("at"), rec.issued_at, now)
    offered = set(rec.variant_ids)
    if kind == "shown":
        raw = event.get("variantIds")
        if not isinstance(raw, list) or not 0 < len(raw) <= ids.MAX_ITEMS:
            raise _Refused("malformed")
        shown = [parse_id(v, "ProductVariant") for v in raw]
        if any(v is None for v in shown):
            raise _Refused("malformed")
        if not set(shown) <= offered:
            raise _Refused("not_in_answer")
        displayed = list(dict.fromkeys(shown))
        pins = set(rec.pinned)
        row.update(
            issued_at=rec.issued_at,
            shown_at=at,
            variant_ids=[str(v) for v in displayed],
            pinned_variant_ids=[str(v) for v in displayed if v in pins],
        )
    else:
        variant_id = parse_id(event.get("variantId"), "ProductVariant")
        if variant_id is None:
            raise _Refused("malformed")
        if variant_id not in offered:
            raise _Refused("not_in_answer")
        row.update(variant_id=variant_id, added_at=at)
    return kind, row


def record_batch(shop_id: int, events: list[Any], config: Mapping[str, Any]) -> BatchResult:
    """Check and record a batch in the caller's transaction; the caller commits."""
    key = ids.signing_key(config)
    now = utcnow()
    result = BatchResult()
    rows: dict[str, list[dict[str, Any]]] = {kind: [] for kind in TYPES}
    positions: dict[str, list[int]] = {kind: [] for kind in TYPES}
    drops: Counter[str] = Counter()
    for index, event in enumerate(events):
        try:
            kind, row = _check(event, key, shop_id, now)
        except _Refused as refused:
            event_id = event.get("id") if isinstance(event, dict) else None
            entry: dict[str, Any] = {"index": index, "reason": refused.reason}
            if isinstance(event_id, str):
                entry["id"] = event_id[:64]
            result.rejected.append(entry)
            drops[refused.reason] += 1
            continue
        rows[kind].append(row)
        positions[kind].append(index)
    for kind, model in (("shown", ImpactShown), ("added", ImpactAdded)):
        if not rows[kind]:
            continue
        # One statement for the batch, given its rows as parameters (not inlined as VALUES): its
        # SQL is compiled once per process and cached, and the rows go in one multi-row INSERT.
        table = model.__table__
        stmt = insert(table).on_conflict_do_nothing().returning(table.c.event_id)
        inserted = set(db.session.scalars(stmt, rows[kind]))
        # The same event twice in one batch inserts once: count by event ids actually written.
        result.accepted += len(inserted)
        result.duplicates += len(rows[kind]) - len(inserted)
    if result.duplicates:
        drops["duplicate"] += result.duplicates
    count_drops(shop_id, drops, now)
    return result


def count_drops(shop_id: int, drops: Mapping[str, int], now: datetime | None = None) -> None:
    """Add to the shop's per-day, per-reason counts of events not recorded."""
    if not drops:
        return
    day = (now or utcnow()).date()
    stmt = insert(ImpactDrop).values(
        [{"shop_id": shop_id, "day": day, "reason": r, "count": n} for r, n in sorted(drops.items())]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["shop_id", "day", "reason"], set_={"count": ImpactDrop.count + stmt.excluded["count"]}
    )
    db.session.execute(stmt)

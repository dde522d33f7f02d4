"""The demo's simulated POS day: held-out orders replayed as POS carts through the real endpoints.

`posai demo` imports the history without its last REPLAY_CARTS orders (at most a tenth of it),
so the model never trains on them, then replays them as one day at the store, each cart through
the same code a real POS and Shopify reach, in this process (Flask's test client):

1. the cart is the order's first line (its first two when it has three or more different items),
   asked of `POST /api/recommendations` with a demo session token (signed like App Bridge's),
   at the cart's time of day: the answer's `recommendationId` is minted on that simulated clock;
2. the POS reports `shown` (every suggested item) and, for each item the simulated cashier taps,
   `added`, to `POST /api/events`, in batches, with the cart's location and staff member;
3. the order goes to `POST /webhooks` as `orders/create`, HMAC-signed with the app's secret: the
   real order's lines, the tapped suggestions tagged `_posai` (a suggestion the customer did not
   buy is appended as a new line, one unit at its catalog price) and the cart attribute
   `_posai_shown`, as the extension sets them; source `pos`, the location, the staff member.
   Each delivery is applied inside its request (jobs inline, as `make demo` without Redis runs
   them), so the figures are there when the replay returns, REDIS_URL or not.

The cashier's taps are seeded draws: TAP_IF_WANTED when the suggested item is in the real order
(the customer wanted it), TAP_OTHERWISE when it is not, both times the staff member's
STAFF_SKILL. The day is the UTC day before the first replay, 09:00 to 18:00, carts in the
history's order; every event id starts with posai_app.impact.simulated.EVENT_PREFIX, which is
how the admin knows to label the figures as simulated.

Deterministic and idempotent: the same history and seed give the same carts, taps and payloads.
A cart whose order is already stored at its simulated version was replayed before: its events
are not sent again (the POS resends only what was not acknowledged) and its order is delivered
again as it was first sent, rebuilt from what was recorded: Shopify's redelivery, which the
webhook endpoint acknowledges as a duplicate, so a second `posai demo` changes no figure.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import json
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from posai_app.demo import DEMO_SHOP_DOMAIN
from posai_app.demo.payloads import (
    DATA_PATH,
    Row,
    iso_utc,
    line_item_id_for,
    order_id_for,
    order_payload,
    rows_from_records,
    variant_id_for,
)
from posai_app.extensions import db
from posai_app.impact import ids
from posai_app.impact.simulated import EVENT_PREFIX
from posai_app.ingest.upserts import stored_versions
from posai_app.models import (
    ImpactAdded,
    ImpactShown,
    OrderVersion,
    ProductVariant,
    WebhookDelivery,
    aware,
    utcnow,
)
from posai_app.queue import jobs_inline
from posai_app.shopify.version import API_VERSION
from posai_app.tenancy import of_shop
from posai_app.webhooks.verify import compute_hmac

REPLAY_CARTS = 300
SEED = 16
OPENING, CLOSING = time(9, 0), time(18, 0)
TAP_IF_WANTED = 0.6
TAP_OTHERWISE = 0.1
# Two stores, two cashiers each (Shopify-shaped numeric ids); how readily each one taps Add.
LOCATIONS = {
    81_000_000_001: (91_000_000_001, 91_000_000_002),
    81_000_000_002: (91_000_000_003, 91_000_000_004),
}
STAFF_SKILL = {91_000_000_001: 1.25, 91_000_000_002: 0.9, 91_000_000_003: 1.0, 91_000_000_004: 0.7}
BATCH_CARTS = 50  # carts whose events go in one POST /api/events (at most 150 events)
TOKEN_TTL_SECONDS = 600


@dataclass(frozen=True)
class Cart:
    """One held-out order as a POS cart at the store."""

    rows: tuple[Row, ...]
    order_id: int
    cart: tuple[int, ...]
    at: datetime
    location_id: int
    staff_member_id: int
    seed: int

    @property
    def ordered_at(self) -> datetime:
        return self.at + timedelta(seconds=45)

    @property
    def shown_event_id(self) -> str:
        return f"{EVENT_PREFIX}{self.order_id}-shown"

    def added_event_id(self, variant_id: int) -> str:
        return f"{EVENT_PREFIX}{self.order_id}-added-{variant_id}"

    def taps(self, variant_id: int) -> bool:
        """The simulated cashier's seeded decision to tap Add on this suggestion."""
        wanted = variant_id in {variant_id_for(r.variant_code) for r in self.rows}
        chance = (TAP_IF_WANTED if wanted else TAP_OTHERWISE) * STAFF_SKILL[self.staff_member_id]
        return random.Random(f"{self.seed}:{self.order_id}:{variant_id}").random() < chance  # noqa: S311


@dataclass
class ReplayResult:
    day: date
    carts: int = 0
    shown: int = 0
    added: int = 0
    delivered: int = 0
    redelivered: int = 0
    replayed_before: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        if self.carts and self.replayed_before == self.carts:
            return (
                f"simulated POS day {self.day} already replayed: {self.carts:,} orders redelivered "
                f"({self.redelivered:,} acknowledged as duplicates), no new events"
            )
        return (
            f"simulated POS day {self.day}: {self.carts:,} held-out orders as POS carts, "
            f"{self.shown:,} suggestions shown, {self.added:,} added by the simulated cashiers, "
            f"{self.delivered:,} orders through POST /webhooks"
            + (f" ({self.replayed_before:,} replayed before, redelivered)" if self.replayed_before else "")
        )


def held_out_orders(path: str = DATA_PATH, limit: int = REPLAY_CARTS) -> list[list[Row]]:
    """The history's last `limit` orders by time (at most a tenth of them), oldest first.

    One pass over the raw CSV records, grouped as payloads.group_orders groups rows; only the
    kept orders become Rows (building all 500,000 would triple the time).
    """
    dates: dict[str, str] = {}
    latest: list[tuple[tuple[str, str], int, list[dict[str, str]]]] = []  # a min-heap of `limit`
    total = 0
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        group: list[dict[str, str]] = []
        code = None

        def keep() -> None:
            nonlocal total
            total += 1
            raw = group[0]["created_at"]
            when = dates.get(raw) or dates.setdefault(raw, iso_utc(raw))
            entry = ((when, code or ""), total, group)
            if len(latest) < limit:
                heapq.heappush(latest, entry)
            elif entry[0] > latest[0][0]:
                heapq.heapreplace(latest, entry)

        for record in reader:
            record_code = record["order_id"].strip()
            if group and record_code != code:
                keep()
                group = []
            code = record_code
            group.append(record)
        if group:
            keep()
    newest = sorted(latest, key=lambda entry: entry[:2], reverse=True)[: min(limit, total // 10)]
    return [list(rows_from_records(records)) for *_, records in sorted(newest, key=lambda entry: entry[:2])]


def held_out_order_ids(path: str = DATA_PATH, limit: int = REPLAY_CARTS) -> frozenset[int]:
    """The order ids the demo import leaves out, for the replay."""
    return frozenset(order_id_for(rows[0].order_code) for rows in held_out_orders(path, limit))


def plan_day(orders: list[list[Row]], day: date, seed: int = SEED) -> list[Cart]:
    """The carts of the simulated day: times spread over opening hours, seeded locations and staff."""
    opening = datetime.combine(day, OPENING, tzinfo=UTC)
    span = (datetime.combine(day, CLOSING, tzinfo=UTC) - opening).total_seconds()
    carts = []
    for position, rows in enumerate(orders):
        rng = random.Random(f"{seed}:{rows[0].order_code}")  # noqa: S311  (a seeded simulation)
        distinct = list(dict.fromkeys(variant_id_for(r.variant_code) for r in rows))
        size = 2 if len(distinct) >= 3 else 1
        location = rng.choice(sorted(LOCATIONS))
        offset = span * (position + rng.random()) / len(orders)
        carts.append(
            Cart(
                rows=tuple(rows),
                order_id=order_id_for(rows[0].order_code),
                cart=tuple(distinct[:size]),
                at=opening + timedelta(seconds=int(offset)),
                location_id=location,
                staff_member_id=rng.choice(LOCATIONS[location]),
                seed=seed,
            )
        )
    return carts


def replay_day(shop_id: int) -> date:
    """The day an earlier replay played (its first shown event), else yesterday (UTC)."""
    first = db.session.scalar(
        sa.select(sa.func.min(ImpactShown.shown_at)).where(
            of_shop(ImpactShown, shop_id), ImpactShown.event_id.startswith(EVENT_PREFIX, autoescape=True)
        )
    )
    return aware(first).date() if first is not None else (utcnow() - timedelta(days=1)).date()


@contextmanager
def _clock_at(moment: datetime, rng: random.Random) -> Iterator[None]:
    """Recommendation ids minted at `moment` with seeded nonces (ids' seams, as tests use them)."""
    saved = ids._clock, ids._random
    ids._clock = moment.timestamp
    ids._random = rng.randbytes
    try:
        yield
    finally:
        ids._clock, ids._random = saved


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pos_order_payload(
    cart: Cart, recommendation_id: str | None, tapped: list[int], catalog: dict[int, ProductVariant]
) -> dict:
    """The cart's order as `orders/create` carries a POS order the extension tagged."""
    payload = order_payload(list(cart.rows))
    at = _iso(cart.ordered_at)
    payload.update(
        created_at=at,
        updated_at=at,
        processed_at=at,
        source_name="pos",
        location_id=cart.location_id,
        user_id=cart.staff_member_id,
        note_attributes=[{"name": "_posai_shown", "value": recommendation_id}] if recommendation_id else [],
    )
    for line in payload["line_items"]:
        line["current_quantity"] = line["quantity"]
        line["properties"] = []
    tag = [{"name": "_posai", "value": recommendation_id}]
    lines = payload["line_items"]
    for variant_id in tapped:
        line = next((li for li in lines if li["variant_id"] == variant_id and not li["properties"]), None)
        if line is None:  # not in the real order: the tap added it
            variant = catalog[variant_id]
            line_id = line_item_id_for(cart.rows[0].order_code, len(lines))
            line = {
                "id": line_id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}",
                "variant_id": variant_id,
                "product_id": variant.product_id,
                "title": variant.product_title,
                "name": variant.product_title,
                "variant_title": None,
                "quantity": 1,
                "current_quantity": 1,
                "price": str(variant.price),
                "sku": variant.sku,
                "gift_card": False,
            }
            lines.append(line)
        line["properties"] = tag
    return payload


class _Pos:
    """The POS extension's side of the replay: the API and events endpoints, with a session token."""

    def __init__(self, client, config):
        from posai_app.admin.demo import mint_demo_session_token

        token = mint_demo_session_token(config, DEMO_SHOP_DOMAIN, ttl=TOKEN_TTL_SECONDS)
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    def recommend(self, cart: Cart) -> dict:
        body = {"cartVariantIds": [str(v) for v in cart.cart], "locationId": str(cart.location_id)}
        rng = random.Random(f"{cart.seed}:{cart.order_id}:id")  # noqa: S311  (nonces of a replay)
        with _clock_at(cart.at, rng):
            response = self.client.post("/api/recommendations", json=body, headers=self.headers)
        if response.status_code != 200:
            raise RuntimeError(f"POST /api/recommendations answered {response.status_code}: {response.text}")
        return response.get_json()

    def send(self, events: list[dict]) -> dict:
        response = self.client.post("/api/events", json={"events": events}, headers=self.headers)
        if response.status_code != 200:
            raise RuntimeError(f"POST /api/events answered {response.status_code}: {response.text}")
        return response.get_json()


def _deliver(client, config, payload: dict, webhook_id: str, triggered_at: datetime) -> str:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Hmac-Sha256": compute_hmac(config["SHOPIFY_API_SECRET"], body),
        "X-Shopify-Shop-Domain": DEMO_SHOP_DOMAIN,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Api-Version": API_VERSION,
        "X-Shopify-Triggered-At": _iso(triggered_at),
    }
    response = client.post("/webhooks", data=body, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"POST /webhooks answered {response.status_code}: {response.text}")
    return response.get_json()["status"]


def _check_applied(shop_id: int, webhook_ids: list[str]) -> None:
    """A delivery that was not applied stops the replay, saying why."""
    db.session.rollback()  # read what the deliveries committed, not this session's snapshot
    failed = db.session.execute(
        sa.select(WebhookDelivery.webhook_id, WebhookDelivery.status, WebhookDelivery.error).where(
            of_shop(WebhookDelivery, shop_id),
            WebhookDelivery.webhook_id.in_(webhook_ids),
            WebhookDelivery.status != "processed",
        )
    ).first()
    if failed is not None:
        raise RuntimeError(f"webhook {failed[0]} was not applied ({failed[1]}): {failed[2]}")


def _catalog(shop_id: int, variant_ids: set[int]) -> dict[int, ProductVariant]:
    if not variant_ids:
        return {}
    return {
        v.variant_id: v
        for v in db.session.scalars(
            sa.select(ProductVariant).where(
                of_shop(ProductVariant, shop_id), ProductVariant.variant_id.in_(sorted(variant_ids))
            )
        )
    }


def _recorded(shop_id: int, carts: list[Cart]) -> tuple[dict[int, str], dict[int, list[int]]]:
    """What earlier replays recorded for these carts: recommendation ids shown, variants added."""
    by_event = {c.shown_event_id: c.order_id for c in carts}
    shown: dict[int, str] = {}
    added: dict[int, list[int]] = {}
    for start in range(0, len(carts), 500):
        chunk = [c.shown_event_id for c in carts[start : start + 500]]
        for event_id, rec_id in db.session.execute(
            sa.select(ImpactShown.event_id, ImpactShown.recommendation_id).where(
                of_shop(ImpactShown, shop_id), ImpactShown.event_id.in_(chunk)
            )
        ):
            shown[by_event[event_id]] = rec_id
    rec_order = {rec_id: order_id for order_id, rec_id in shown.items()}
    for start in range(0, len(rec_order), 500):
        chunk = sorted(rec_order)[start : start + 500]
        for rec_id, variant_id, event_id in db.session.execute(
            sa.select(ImpactAdded.recommendation_id, ImpactAdded.variant_id, ImpactAdded.event_id)
            .where(of_shop(ImpactAdded, shop_id), ImpactAdded.recommendation_id.in_(chunk))
            .order_by(ImpactAdded.added_at, ImpactAdded.event_id)
        ):
            if event_id.startswith(EVENT_PREFIX):
                added.setdefault(rec_order[rec_id], []).append(variant_id)
    return shown, added


def replay_pos_day(shop_id: int, path: str = DATA_PATH, seed: int = SEED) -> ReplayResult:
    """Replay the held-out orders of `path` as a POS day on the demo shop (see the module doc)."""
    app = current_app._get_current_object()
    day = replay_day(shop_id)
    carts = plan_day(held_out_orders(path), day, seed)
    result = ReplayResult(day=day, carts=len(carts))
    if not carts:
        return result
    versions = stored_versions(shop_id, OrderVersion, OrderVersion.order_id, [c.order_id for c in carts])
    done = {c.order_id for c in carts if versions.get(c.order_id) == c.ordered_at}
    result.replayed_before = len(done)
    recorded_shown, recorded_added = _recorded(shop_id, [c for c in carts if c.order_id in done])
    client = app.test_client()
    pos = _Pos(client, app.config)
    # Each delivery is applied inside its request (jobs inline, as `make demo` runs without Redis),
    # so the figures are there when the replay returns, with or without REDIS_URL.
    with jobs_inline(app):
        for start in range(0, len(carts), BATCH_CARTS):
            chunk = carts[start : start + BATCH_CARTS]
            orders: list[tuple[Cart, str | None, list[int]]] = []
            events: list[dict] = []
            for cart in chunk:
                if cart.order_id in done:
                    orders.append(
                        (cart, recorded_shown.get(cart.order_id), recorded_added.get(cart.order_id, []))
                    )
                    continue
                answer = pos.recommend(cart)
                items = [int(r["variantId"]) for r in answer["recommendations"]]
                if not items:  # nothing to show: the POS shows nothing and tags nothing
                    orders.append((cart, None, []))
                    continue
                rec_id = answer["recommendationId"]
                common = {
                    "recommendationId": rec_id,
                    "locationId": str(cart.location_id),
                    "staffMemberId": str(cart.staff_member_id),
                }
                events.append(
                    {
                        "id": cart.shown_event_id,
                        "type": "shown",
                        "variantIds": [str(v) for v in items],
                        "at": _iso(cart.at + timedelta(seconds=3)),
                        **common,
                    }
                )
                tapped = [v for v in items if cart.taps(v)]
                for position, variant_id in enumerate(tapped):
                    events.append(
                        {
                            "id": cart.added_event_id(variant_id),
                            "type": "added",
                            "variantId": str(variant_id),
                            "at": _iso(cart.at + timedelta(seconds=12 + 4 * position)),
                            **common,
                        }
                    )
                orders.append((cart, rec_id, tapped))
            if events:
                answer = pos.send(events)
                result.shown += sum(1 for e in events if e["type"] == "shown")
                result.added += sum(1 for e in events if e["type"] == "added")
                if answer["rejected"]:
                    raise RuntimeError(f"POST /api/events refused replayed events: {answer['rejected'][:3]}")
            catalog = _catalog(shop_id, {v for _, _, tapped in orders for v in tapped})
            webhook_ids = []
            for cart, rec_id, tapped in orders:
                payload = pos_order_payload(cart, rec_id, tapped, catalog)
                webhook_ids.append(f"{EVENT_PREFIX}order-{cart.order_id}")
                status = _deliver(client, app.config, payload, webhook_ids[-1], cart.ordered_at)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.delivered += 1
                result.redelivered += status == "duplicate"
            _check_applied(shop_id, webhook_ids)
    return result

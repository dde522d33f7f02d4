"""Draining and recovering the webhook inbox: the job side of `posai_app.webhooks.inbox`, whose
docstring describes the design (keys, the Lua moves, slots, retries)."""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.inputs import clean_text
from posai_app.models import WebhookDelivery
from posai_app.queue import RETRY, get_queue, get_redis
from posai_app.tenancy import select_for_shop
from posai_app.webhooks import handlers, receipts
from posai_app.webhooks.handlers import PROCESS_JOB, job_id_for, process_webhook
from posai_app.webhooks.inbox import (
    DEAD_KEY,
    DONE,
    DRAINS_KEY,
    HAND_OVER,
    INBOX_KEY,
    MAX_DRAINS,
    MAX_RETURNS,
    RELEASE,
    RETURN_TAKEN,
    RETURNS_PREFIX,
    RETURNS_SECONDS,
    SLOT_SECONDS,
    TAKE,
    TOUCH,
    Entry,
    new_token,
    script,
    setting,
    slot_key,
    start_drain,
    taken_key,
)

log = logging.getLogger(__name__)


def drain(token: str, slot: int = 0) -> int:
    """Apply the inbox's entries until it is empty; returns how many this drain took."""
    redis = get_redis()
    slots = setting("WEBHOOK_DRAINS")
    batch = setting("WEBHOOK_DRAIN_BATCH")
    deadline = _monotonic() + setting("WEBHOOK_DRAIN_SECONDS")
    others = [slot_key(i) for i in range(1, slots) if i != slot]
    taken = taken_key(token)
    alive = _KeepAlive(redis, slot_key(slot), token)
    done = 0
    first = "1"
    while True:
        spawn_token = new_token()
        result = script(redis, TAKE)(
            keys=[INBOX_KEY, taken, slot_key(slot), DRAINS_KEY, *others],
            args=[token, batch, SLOT_SECONDS, 2 * batch, spawn_token, first],
        )
        first = "0"
        if result is None:
            log.info("webhook inbox: slot %s is another drain's now; drain %s stops", slot, token)
            return done
        alive.refreshed()
        entries, spawned = result
        if spawned:
            start_drain(spawn_token, int(others[int(spawned) - 1].rsplit(":", 1)[1]))
        if not entries:
            if script(redis, RELEASE)(keys=[INBOX_KEY, slot_key(slot)], args=[token]):
                return done
            continue
        if not apply_raw(entries, alive):
            # Judged dead while a delivery ran long: maintenance returns (or has returned) the
            # batch to the inbox, where another drain applies it again, to the same rows.
            log.warning("webhook inbox: drain %s lost slot %s mid-batch and stops", token, slot)
            return done
        done += len(entries)
        script(redis, DONE)(keys=[taken, DRAINS_KEY], args=[token])
        if _monotonic() > deadline:
            successor = new_token()
            if script(redis, HAND_OVER)(keys=[slot_key(slot)], args=[token, successor, SLOT_SECONDS]):
                start_drain(successor, slot)
            return done


REFRESH_SECONDS = SLOT_SECONDS / 4
_monotonic = time.monotonic  # the drain's clock (tests move it; redis-py keeps its own)


class _KeepAlive:
    """Refreshes a drain's slot between deliveries once a quarter of its TTL has passed, so that
    a long batch is not taken for a dead drain's; says when the slot was lost all the same."""

    def __init__(self, redis, key: str, token: str):
        self.redis, self.key, self.token = redis, key, token
        self.last = _monotonic()

    def refreshed(self) -> None:
        self.last = _monotonic()

    def __call__(self) -> bool:
        if _monotonic() - self.last < REFRESH_SECONDS:
            return True
        self.refreshed()
        return bool(script(self.redis, TOUCH)(keys=[self.key], args=[self.token, SLOT_SECONDS]))


def apply_raw(raws: list[bytes], alive=lambda: True) -> bool:
    """Apply a batch as taken from the inbox; False if `alive()` said the slot was lost first.

    Two kinds of entry go to the dead list (`DEAD_KEY`, counted on /metrics) instead of blocking
    the inbox: one that cannot be read (written by a version whose format this one does not
    know), and one that was in the batch of MAX_RETURNS drains that died (it hangs, or takes the
    worker down). An operator looks at them with `redis-cli LRANGE posai:webhooks:dead 0 -1`."""
    redis = get_redis()
    digests = [hashlib.sha1(raw).hexdigest() for raw in raws]  # noqa: S324 (an id, not a secret)
    returns = redis.mget([RETURNS_PREFIX + digest for digest in digests]) if raws else []
    entries = []
    for raw, digest, returned in zip(raws, digests, returns, strict=True):
        if returned is not None and int(returned) >= MAX_RETURNS:
            log.error("webhook inbox: an entry %s drains died with moved to %s", MAX_RETURNS, DEAD_KEY)
            redis.rpush(DEAD_KEY, raw)
            redis.delete(RETURNS_PREFIX + digest)
            continue
        try:
            entries.append(Entry.decode(raw))
        except ValueError:
            log.error("webhook inbox: an unreadable entry moved to %s", DEAD_KEY)
            redis.rpush(DEAD_KEY, raw)
    return apply_entries(entries, alive)


def apply_entries(entries: list[Entry], alive=lambda: True) -> bool:
    """A batch: each shop's order deliveries in one upsert (`handlers.apply_orders`: one set of
    statements and one commit for all of them instead of a dozen round trips each), after the
    batch's other deliveries, which are applied one by one. Applying a shop's orders after its
    other deliveries is safe: any delivery order ends in the same rows
    (tests/webhooks/test_convergence.py). False if `alive()` said the slot was lost."""
    orders: dict[int, list[Entry]] = {}
    for entry in entries:
        if entry.topic in handlers.ORDER_TOPICS:
            orders.setdefault(entry.shop_id, []).append(entry)
        elif not alive():
            return False
        else:
            _apply_alone(entry)
    for shop_id, group in orders.items():
        if not alive():
            return False
        if len(group) == 1 or not _apply_orders(shop_id, group):
            for entry in group:
                _apply_alone(entry)
    return True


def _apply_orders(shop_id: int, group: list[Entry]) -> bool:
    """One shop's order deliveries together; False (nothing written) if any of them failed, so
    that the caller applies them one by one and only the failing one is retried."""
    first: dict[str, Entry] = {}
    for entry in group:
        first.setdefault(entry.webhook_id[:255], entry)
    try:
        keys = receipts.record_many_in_transaction(
            shop_id,
            [(e.webhook_id, e.topic, datetime.fromtimestamp(e.received_at, UTC)) for e in first.values()],
        )
        keys += _unfinished(shop_id, [key for key in first if key not in set(keys)])
        if keys:
            handlers.apply_orders(shop_id, [(key, first[key].body) for key in keys])
        else:
            db.session.rollback()  # every one a redelivery
        return True
    except Exception as exc:
        db.session.rollback()
        log.info("shop %s: %s order deliveries applied one by one (%s)", shop_id, len(group), exc)
        return False


def _unfinished(shop_id: int, keys: list[str]) -> list[str]:
    """Of these recorded receipts, those still "received": applied by nobody to the end (a drain
    died after a handler's own commit), so applied again rather than taken for redeliveries."""
    if not keys:
        return []
    return list(
        db.session.scalars(
            select_for_shop(WebhookDelivery, shop_id, WebhookDelivery.webhook_id).where(
                WebhookDelivery.webhook_id.in_(keys), WebhookDelivery.status == "received"
            )
        )
    )


def _apply_alone(entry: Entry) -> str:
    """`apply_entry`, and if even that raised (its receipt or its retry could not be written),
    the delivery as its own RQ job on the retry schedule, so that one bad entry never blocks the
    inbox. If RQ refuses too, the error propagates: the drain stops, and maintenance returns its
    batch to the inbox for a later drain."""
    try:
        return apply_entry(entry)
    except Exception:
        db.session.rollback()
        log.exception(
            "webhook %s: %s could not be applied by the drain; queued alone", entry.webhook_id, entry.topic
        )
        _enqueue_retry(entry, entry.webhook_id[:255], delay=0, attempts=RETRY[0] + 1, intervals=RETRY[1])
        return "queued"


def apply_entry(entry: Entry) -> str:
    """Apply one delivery: "processed", "duplicate", "unknown_shop" or "retrying"."""
    received = datetime.fromtimestamp(entry.received_at, UTC)
    try:
        key = receipts.record_in_transaction(entry.shop_id, entry.webhook_id, entry.topic, received)
    except sa.exc.IntegrityError:
        # The shop's row is gone (shop/redact, or deleted after the request read its snapshot).
        db.session.rollback()
        log.info("webhook %s: %s for deleted shop %s dropped", entry.webhook_id, entry.topic, entry.shop_id)
        return "unknown_shop"
    if key is None:
        key = next(iter(_unfinished(entry.shop_id, [entry.webhook_id[:255]])), None)
        if key is None:
            db.session.rollback()
            return "duplicate"
    try:
        # Commits the receipt with the handler's writes; on failure it rolls both back and raises.
        process_webhook(entry.shop_id, key, entry.topic, entry.body, entry.triggered_at)
    except Exception as exc:
        log.warning("webhook %s: %s failed in the drain (%s); retried by RQ", key, entry.topic, exc)
        _retry_later(entry, key, f"{exc.__class__.__name__}: {exc}"[:2000], received)
        return "retrying"
    return "processed"


def _retry_later(entry: Entry, key: str, error: str, received: datetime) -> None:
    """The failed delivery's own RQ job (first run after the schedule's first interval, then
    RQ's retries on the rest of it: queue.RETRY), then its receipt marked failed. The job comes
    first: were the drain to die in between, the replayed entry finds no receipt and is applied
    again, instead of finding a failed receipt whose retry was never queued."""
    db.session.rollback()
    attempts, intervals = RETRY
    _enqueue_retry(entry, key, delay=intervals[0], attempts=attempts, intervals=intervals[1:])
    try:
        receipts.record_in_transaction(
            entry.shop_id, key, entry.topic, received, status="failed", error=clean_text(error)
        )
        db.session.commit()
    except Exception:  # the retry is queued: it is the record now (and a shop gone has none)
        db.session.rollback()
        log.warning("webhook %s: its failed receipt was not written; its retry is queued", key, exc_info=True)


def _enqueue_retry(entry: Entry, key: str, *, delay: int, attempts: int, intervals: list[int]) -> None:
    """`process_webhook` for one delivery as an RQ job: `delay` seconds from now (0: queued at
    once), then up to `attempts - 1` retries `intervals` apart."""
    from rq import Retry

    queue = get_queue("high")
    call = (PROCESS_JOB, entry.shop_id, key, entry.topic, entry.body, entry.triggered_at)
    options = {
        "job_id": job_id_for(entry.shop_id, entry.webhook_id),
        "description": f"{entry.topic} webhook {key} of shop {entry.shop_id}",
    }
    if attempts > 1:
        options["retry"] = Retry(max=attempts - 1, interval=intervals)
    if delay:
        queue.enqueue_in(timedelta(seconds=delay), *call, **options)
    else:
        queue.enqueue(*call, **options)


# --- recovering (the worker's maintenance pass) ------------------------------------------------


def recover() -> dict[str, int]:
    """Return dead drains' taken entries to the inbox; start a drain for an inbox nobody drains."""
    redis = get_redis()
    if redis is None:
        return {"returned": 0, "started": 0}
    # Every slot a drain might hold (WEBHOOK_DRAINS is at most MAX_DRAINS), also one a process
    # configured with more drains than this one started: a live drain's batch is never taken.
    slots = [slot_key(i) for i in range(MAX_DRAINS)]
    returned = 0
    for member in redis.smembers(DRAINS_KEY):
        token = member.decode()
        returned += int(
            script(redis, RETURN_TAKEN)(
                keys=[taken_key(token), INBOX_KEY, DRAINS_KEY, *slots],
                args=[token, RETURNS_PREFIX, RETURNS_SECONDS],
            )
        )
    started = 0
    if redis.llen(INBOX_KEY):
        token = new_token()
        if redis.set(slot_key(0), token, nx=True, ex=SLOT_SECONDS):
            start_drain(token, 0)
            started = 1
    if returned:
        log.warning("webhook inbox: %s entries of dead drains returned to the inbox", returned)
    return {"returned": returned, "started": started}

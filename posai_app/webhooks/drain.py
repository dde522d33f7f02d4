"""Draining and recovering the webhook inbox: the job side of `posai_app.webhooks.inbox`, whose
docstring describes the design (keys, the Lua moves, slots, retries)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.queue import RETRY, get_queue, get_redis
from posai_app.webhooks import handlers, receipts
from posai_app.webhooks.handlers import PROCESS_JOB, job_id_for, process_webhook
from posai_app.webhooks.inbox import (
    HAND_OVER,
    INBOX_KEY,
    RELEASE,
    RETURN_TAKEN,
    SLOT_SECONDS,
    TAKE,
    TAKEN_PREFIX,
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
    deadline = time.monotonic() + setting("WEBHOOK_DRAIN_SECONDS")
    others = [slot_key(i) for i in range(1, slots) if i != slot]
    taken = taken_key(token)
    done = 0
    while True:
        spawn_token = new_token()
        result = script(redis, TAKE)(
            keys=[INBOX_KEY, taken, slot_key(slot), *others],
            args=[token, batch, SLOT_SECONDS, 2 * batch, spawn_token],
        )
        if result is None:
            log.info("webhook inbox: slot %s is another drain's now; drain %s stops", slot, token)
            return done
        entries, spawned = result
        if spawned:
            start_drain(spawn_token, int(others[int(spawned) - 1].rsplit(":", 1)[1]))
        if not entries:
            if script(redis, RELEASE)(keys=[INBOX_KEY, slot_key(slot)], args=[token]):
                return done
            continue
        apply_entries([Entry.decode(raw) for raw in entries])
        done += len(entries)
        redis.delete(taken)
        if time.monotonic() > deadline:
            successor = new_token()
            if script(redis, HAND_OVER)(keys=[slot_key(slot)], args=[token, successor, SLOT_SECONDS]):
                start_drain(successor, slot)
            return done


def apply_entries(entries: list[Entry]) -> None:
    """A batch: each shop's order deliveries in one upsert (`handlers.apply_orders`: one set of
    statements and one commit for all of them instead of a dozen round trips each), the others
    one by one. Moving a shop's orders ahead of its other deliveries is safe: any delivery order
    ends in the same rows (tests/webhooks/test_convergence.py)."""
    orders: dict[int, list[Entry]] = {}
    for entry in entries:
        if entry.topic in handlers.ORDER_TOPICS:
            orders.setdefault(entry.shop_id, []).append(entry)
        else:
            apply_entry(entry)
    for shop_id, group in orders.items():
        if len(group) == 1 or not _apply_orders(shop_id, group):
            for entry in group:
                apply_entry(entry)


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
        if keys:
            handlers.apply_orders(shop_id, [(key, first[key].body) for key in keys])
        else:
            db.session.rollback()  # every one a redelivery
        return True
    except Exception as exc:
        db.session.rollback()
        log.info("shop %s: %s order deliveries applied one by one (%s)", shop_id, len(group), exc)
        return False


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
    """The failed delivery's receipt, marked failed, then its own RQ job: first run after the
    schedule's first interval, then RQ's retries on the rest of it (queue.RETRY)."""
    from rq import Retry

    db.session.rollback()
    try:
        receipts.record_in_transaction(
            entry.shop_id, key, entry.topic, received, status="failed", error=error
        )
        db.session.commit()
    except sa.exc.IntegrityError:  # the shop went meanwhile: nothing left to retry for
        db.session.rollback()
        return
    attempts, intervals = RETRY
    get_queue("high").enqueue_in(
        timedelta(seconds=intervals[0]),
        PROCESS_JOB,
        entry.shop_id,
        key,
        entry.topic,
        entry.body,
        entry.triggered_at,
        job_id=job_id_for(entry.shop_id, entry.webhook_id),
        retry=Retry(max=attempts - 1, interval=intervals[1:]),
        description=f"{entry.topic} webhook {key} of shop {entry.shop_id}",
    )


# --- recovering (the worker's maintenance pass) ------------------------------------------------


def recover() -> dict[str, int]:
    """Return dead drains' taken entries to the inbox; start a drain for an inbox nobody drains."""
    redis = get_redis()
    if redis is None:
        return {"returned": 0, "started": 0}
    slots = [slot_key(i) for i in range(setting("WEBHOOK_DRAINS"))]
    returned = 0
    for key in _taken_lists(redis):
        token = key.decode().removeprefix(TAKEN_PREFIX)
        returned += int(script(redis, RETURN_TAKEN)(keys=[key, INBOX_KEY, *slots], args=[token]))
    started = 0
    if redis.llen(INBOX_KEY):
        token = new_token()
        if redis.set(slot_key(0), token, nx=True, ex=SLOT_SECONDS):
            start_drain(token, 0)
            started = 1
    if returned:
        log.warning("webhook inbox: %s entries of dead drains returned to the inbox", returned)
    return {"returned": returned, "started": started}


def _taken_lists(redis) -> Iterator[bytes]:
    yield from redis.scan_iter(match=f"{TAKEN_PREFIX}*", count=1000)

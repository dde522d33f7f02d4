"""The webhook inbox: how deliveries are accepted at peak rates and applied in batches (Redis).

Owns the Redis keys below and the three moves a delivery makes through them. This module holds what a
request needs (it imports nothing of the job code); `posai_app.webhooks.drain` the rest. Without
Redis (development, the demo) there is no inbox: `views` records the receipt and applies the job
inline, as before.

Accepting (`accept`, one Lua call from the request, O(1) whatever the backlog):
  1. SET NX the delivery's seen key, kept WEBHOOK_SEEN_SECONDS: a redelivery inside that
     window is answered "duplicate" with nothing stored. Shopify retries an unanswered webhook
     8 times over 4 hours (https://shopify.dev/changelog/updates-to-webhook-retry-mechanism);
     the window only saves work (the PostgreSQL receipt, kept 14 days, dedupes after it), so
     the default is an hour, which bounds Redis's memory (about 150 bytes per delivery).
  2. RPUSH the entry (the routing fields and the verified raw body) onto the inbox.
  3. SET NX drain slot 0. Only the request that took it enqueues a drain job (so one RQ job per
     burst, not one per delivery: RQ's per-job cost was ≈ 40 % of a delivery's).
  The receipt and the enqueue used to cost a PostgreSQL and a Redis round trip per delivery.

Draining (`posai_app.webhooks.drain.drain`, an RQ job on "high"; up to WEBHOOK_DRAINS at once):
  - takes up to WEBHOOK_DRAIN_BATCH entries atomically from the inbox's head into a taken list
    of its own (Lua), refreshing its slot (the slot's TTL is the drain's liveness);
  - applies a shop's order deliveries of the batch together (`handlers.apply_orders`: their
    receipts, one upsert, one commit; a dozen round trips per order became a few per batch), and
    every other entry, or the orders of a group that failed, one by one: the receipt
    INSERT … ON CONFLICT DO NOTHING with `handlers.process_webhook` in one transaction. A
    redelivery past the seen window is skipped by its receipt; a crash leaves receipt and writes
    both or neither;
  - hands a delivery that fails to a per-delivery RQ job on the same schedule a queued
    delivery had (the drain's attempt was the first; RQ retries after 10 s, 60 s, 300 s), with
    the receipt marked failed;
  - drops its taken list; when the inbox is deep it starts another drain in a free slot; when it
    is empty it gives its slot back (atomically with the emptiness check, so a delivery pushed
    meanwhile is never left without a drain); after WEBHOOK_DRAIN_SECONDS it hands its slot to
    a successor job, so no RQ job runs for ever.

Recovering (`drain.recover`, from every worker's maintenance pass): a taken list whose drain no longer
holds a slot (its worker died) goes back to the inbox's head, and an inbox with entries but no
drain gets one. Entries applied twice that way converge: receipts dedupe, and every handler's
write is a guarded upsert.

Depth and age of the inbox are on /metrics (`posai_webhook_inbox_depth`,
`posai_webhook_inbox_oldest_age_seconds`; `posai_app.metrics`).
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass

from flask import current_app

from posai_app.config import WEBHOOK_SETTING_LIMITS
from posai_app.queue import enqueue, get_redis

log = logging.getLogger(__name__)

DRAIN_JOB = "posai_app.webhooks.drain.drain"  # on the "high" queue

INBOX_KEY = "posai:webhooks:inbox"
SEEN_PREFIX = "posai:webhooks:seen:"
SLOT_PREFIX = "posai:webhooks:drain:"
TAKEN_PREFIX = "posai:webhooks:taken:"
DRAINS_KEY = "posai:webhooks:drains"  # tokens of the drains that hold a taken list
DEAD_KEY = "posai:webhooks:dead"  # entries no drain could read or finish (see drain.apply_raw)
RETURNS_PREFIX = "posai:webhooks:returns:"  # + an entry's SHA-1: times a dead drain's batch held it
MAX_RETURNS = 3  # an entry that took down this many drains (it hangs, or crashes the worker)
RETURNS_SECONDS = 86400

# A slot not refreshed for this long belongs to a dead drain. A drain refreshes it before each
# batch and, within a batch, before an entry once a quarter of this has passed: one delivery
# must take less (a webhook job's own statements and Shopify calls have shorter deadlines).
SLOT_SECONDS = 120
# Cut off only a drain that hangs: a slow batch is bounded by the slot above, not by RQ.
DRAIN_JOB_TIMEOUT_SLACK = 10 * SLOT_SECONDS
# TAKE unpacks a batch into one RPUSH (Lua's stack takes about 8,000); recover() checks every slot
# up to MAX_DRAINS, so a live drain's slot is never beyond them. config.from_env refuses more.
MAX_DRAIN_BATCH = WEBHOOK_SETTING_LIMITS["WEBHOOK_DRAIN_BATCH"]
MAX_DRAINS = WEBHOOK_SETTING_LIMITS["WEBHOOK_DRAINS"]


def setting(name: str) -> int:
    """WEBHOOK_SEEN_SECONDS, WEBHOOK_DRAINS, WEBHOOK_DRAIN_BATCH or WEBHOOK_DRAIN_SECONDS
    (posai_app.config.BaseConfig has the defaults)."""
    value = max(1, int(current_app.config[name]))
    most = WEBHOOK_SETTING_LIMITS.get(name)  # create_app overrides are not checked by from_env
    return min(value, most) if most else value


# --- entries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    shop_id: int
    webhook_id: str
    topic: str
    triggered_at: str | None
    received_at: float  # epoch seconds
    body: bytes

    def encode(self) -> bytes:
        # One line of JSON (json.dumps escapes any newline) and then the body as Shopify sent it.
        head = [self.shop_id, self.webhook_id, self.topic, self.triggered_at, self.received_at]
        return json.dumps(head, separators=(",", ":")).encode() + b"\n" + self.body

    @classmethod
    def decode(cls, raw: bytes) -> Entry:
        """ValueError for anything but an entry `encode` could have written (its fields typed)."""
        head, _, body = raw.partition(b"\n")
        fields = json.loads(head)
        if not isinstance(fields, list) or len(fields) != 5:
            raise ValueError("not an inbox entry")
        shop_id, webhook_id, topic, triggered_at, received_at = fields
        if not (
            isinstance(shop_id, int)
            and not isinstance(shop_id, bool)
            and isinstance(webhook_id, str)
            and isinstance(topic, str)
            and (triggered_at is None or isinstance(triggered_at, str))
            and isinstance(received_at, int | float)
            and not isinstance(received_at, bool)
            and math.isfinite(received_at)
            and 0 <= received_at < 1e11
        ):
            raise ValueError("an inbox entry with a field of the wrong type")
        return cls(shop_id, webhook_id, topic, triggered_at, float(received_at), body)


def received_at_of(raw: bytes) -> float:
    """An encoded entry's receipt time, without decoding its body; ValueError if unreadable."""
    try:
        return float(json.loads(raw.partition(b"\n")[0])[4])
    except (IndexError, KeyError, TypeError) as exc:
        raise ValueError("not an inbox entry") from exc


def _seen_key(shop_id: int, webhook_id: str) -> str:
    return f"{SEEN_PREFIX}{shop_id}:{webhook_id}"


def slot_key(slot: int) -> str:
    return f"{SLOT_PREFIX}{slot}"


def taken_key(token: str) -> str:
    return f"{TAKEN_PREFIX}{token}"


def new_token() -> str:
    return uuid.uuid4().hex


# --- Lua: each move is atomic ----------------------------------------------------------------

# KEYS: seen, inbox, slot 0. ARGV: entry, seen seconds, slot seconds, token.
# 0: a redelivery (nothing pushed); 1: pushed, a drain holds slot 0; 2: pushed, slot 0 taken
# with this token: the caller enqueues the drain.
ACCEPT = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('SET', KEYS[3], ARGV[4], 'NX', 'EX', ARGV[3]) then return 2 end
return 1
"""

# KEYS: inbox, this drain's taken list, its slot, the set of drains holding a taken list, then
# every other slot. ARGV: token, batch size, slot seconds, spawn depth, a token for a spawned
# drain, '1' on a drain's first TAKE. false: the slot is another drain's (this one was judged
# dead, or is a stale job), or it expired since this drain's last TAKE (its batch may have been
# returned to the inbox meanwhile): stop. A drain's first TAKE may claim a free slot.
# Otherwise {entries, index of a slot taken for a new drain (0: none)}.
TAKE = """
local holder = redis.call('GET', KEYS[3])
if holder ~= ARGV[1] and (holder or ARGV[6] ~= '1') then return false end
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[3])
local n = tonumber(ARGV[2])
local entries = redis.call('LRANGE', KEYS[1], 0, n - 1)
if #entries > 0 then
  redis.call('LTRIM', KEYS[1], #entries, -1)
  redis.call('RPUSH', KEYS[2], unpack(entries))
  redis.call('SADD', KEYS[4], ARGV[1])
end
local spawned = 0
if redis.call('LLEN', KEYS[1]) > tonumber(ARGV[4]) then
  for i = 5, #KEYS do
    if redis.call('SET', KEYS[i], ARGV[5], 'NX', 'EX', ARGV[3]) then spawned = i - 4; break end
  end
end
return {entries, spawned}
"""

# KEYS: this drain's taken list, the set of drains holding one. ARGV: token. Its batch is done.
DONE = """
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

# KEYS: slot. ARGV: token, slot seconds. 1: the slot is still this drain's and lives on; 0: lost.
TOUCH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: inbox, slot. ARGV: token. 1: released (or not ours any more); 0: entries arrived, go on.
RELEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 1 end
if redis.call('LLEN', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS: slot. ARGV: token, successor's token, slot seconds. 1: the slot is the successor's.
HAND_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""

# KEYS: inbox, slot 0. ARGV: token. Give slot 0 back if it still holds this token.
GIVE_BACK = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
"""

# KEYS: a taken list, the inbox, the set of drains holding one, then every slot. ARGV: the taken
# list's token, the returns counters' prefix, their lifetime. Returns the number of entries
# returned to the inbox's head (0 if a live drain holds the token), each one's returns counted
# (an entry returned MAX_RETURNS times goes to the dead list). LMOVE: Redis 6.2 or later.
RETURN_TAKEN = """
for i = 4, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then return 0 end
end
local moved = 0
while true do
  local entry = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not entry then break end
  local returns = ARGV[2] .. redis.sha1hex(entry)
  redis.call('INCR', returns)
  redis.call('EXPIRE', returns, ARGV[3])
  moved = moved + 1
end
redis.call('SREM', KEYS[3], ARGV[1])
return moved
"""

_SCRIPTS: dict[tuple[int, str], object] = {}


def script(redis, source: str):
    """A registered script (EVALSHA, loaded again by redis-py if the server forgot it)."""
    key = (id(redis), source)
    script = _SCRIPTS.get(key)
    if script is None:
        script = _SCRIPTS[key] = redis.register_script(source)
    return script


# --- accepting (the request) -----------------------------------------------------------------


def accept(shop_id: int, webhook_id: str, topic: str, body: bytes, triggered_at: str | None) -> str:
    """Put a verified delivery in the inbox: "queued", or "duplicate" for a redelivery.
    Raises redis' errors when Redis is unreachable (the caller answers 503: nothing was stored)."""
    redis = get_redis()
    token = new_token()
    entry = Entry(shop_id, webhook_id, topic, triggered_at, time.time(), body)
    result = script(redis, ACCEPT)(
        keys=[_seen_key(shop_id, webhook_id), INBOX_KEY, slot_key(0)],
        args=[entry.encode(), setting("WEBHOOK_SEEN_SECONDS"), SLOT_SECONDS, token],
    )
    if result == 0:
        return "duplicate"
    if result == 2:
        start_drain(token, 0)
    return "queued"


def start_drain(token: str, slot: int) -> None:
    """Enqueue the drain for a slot just taken. If RQ refuses, the delivery is still safe in the
    inbox: the slot is given back so that the next delivery (or maintenance) starts a drain."""
    try:
        enqueue(
            "high",
            DRAIN_JOB,
            token,
            slot,
            job_id=f"webhook-drain-{token}",
            job_timeout=setting("WEBHOOK_DRAIN_SECONDS") + DRAIN_JOB_TIMEOUT_SLACK,
            description=f"webhook inbox drain (slot {slot})",
        )
    except Exception:
        log.exception("webhook inbox: could not enqueue a drain for slot %s", slot)
        try:
            redis = get_redis()
            script(redis, GIVE_BACK)(keys=[INBOX_KEY, slot_key(slot)], args=[token])
        except Exception:
            log.exception("webhook inbox: slot %s stays taken until it expires", slot)


def inbox_figures(redis) -> tuple[int, float, int]:
    """(entries waiting, age in seconds of the oldest (0 when empty), dead entries)."""
    with redis.pipeline(transaction=False) as pipe:
        pipe.llen(INBOX_KEY)
        pipe.lindex(INBOX_KEY, 0)
        pipe.llen(DEAD_KEY)
        depth, head, dead = pipe.execute()
    age = 0.0
    if head:
        try:
            age = max(0.0, time.time() - received_at_of(head))
        except (
            ValueError,
            IndexError,
            TypeError,
        ):  # an unreadable head entry: the drain moves it to the dead list
            age = 0.0
    return int(depth), age, int(dead)

"""The webhook inbox (posai_app.webhooks.inbox), on the run's real Redis and database: one drain job
per burst, receipts written with the delivery's writes, failures handed to RQ's retries, and a
dead drain's entries applied once its worker is gone."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from rq import Queue
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

from posai_app.demo import payloads as shopify_shape
from posai_app.extensions import db
from posai_app.models import OrderLineItem, WebhookDelivery
from posai_app.queue import get_redis
from posai_app.webhooks import drain, handlers, inbox, receipts
from tests.helpers import TEST_API_SECRET
from tests.webhooks import examples

pytestmark = pytest.mark.usefixtures("requires_redis")


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    monkeypatch.setattr(handlers, "request_retrain", lambda shop_id: None)


def orders(n: int) -> list[dict]:
    return [examples.order_from_shape(p) for p in itertools.islice(shopify_shape.iter_order_payloads(), n)]


def post(client, fake, shop, order, webhook_id):
    body, headers = fake.webhook("orders/create", shop.domain, order, TEST_API_SECRET, webhook_id=webhook_id)
    return client.post("/webhooks", data=body, headers=headers)


def queued_jobs(app, name="high") -> list[str]:
    with app.app_context():
        return Queue(name, connection=get_redis()).get_job_ids()


def stored(app, shop_id) -> tuple[int, int, list[str]]:
    """(orders, line items, receipt statuses) of the shop."""
    with app.app_context():
        n_orders = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(OrderLineItem.order_id))).where(
                OrderLineItem.shop_id == shop_id
            )
        )
        n_items = db.session.scalar(
            sa.select(sa.func.count()).select_from(OrderLineItem).where(OrderLineItem.shop_id == shop_id)
        )
        statuses = db.session.scalars(
            sa.select(WebhookDelivery.status)
            .where(WebhookDelivery.shop_id == shop_id)
            .order_by(WebhookDelivery.webhook_id)
        ).all()
    return n_orders, n_items, list(statuses)


def test_a_burst_is_one_drain_job_and_every_delivery_is_applied_once(
    app, client, fake, shop, run_jobs, monkeypatch
):
    together = []
    apply_orders = handlers.apply_orders
    monkeypatch.setattr(
        handlers, "apply_orders", lambda shop_id, d: (together.append(len(d)), apply_orders(shop_id, d))
    )
    batch = orders(6)
    answers = [post(client, fake, shop, order, f"wh-{i}").json["status"] for i, order in enumerate(batch)]
    answers.append(post(client, fake, shop, batch[0], "wh-0").json["status"])  # a redelivery
    assert answers == ["queued"] * 6 + ["duplicate"]
    with app.app_context():
        assert inbox.inbox_figures(get_redis())[0] == 6
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0  # no SQL
    (job_id,) = queued_jobs(app)
    assert job_id.startswith("webhook-drain-")
    run_jobs()
    n_orders, n_items, statuses = stored(app, shop.id)
    assert (n_orders, statuses) == (6, ["processed"] * 6)
    assert n_items == sum(len(o["line_items"]) for o in batch)
    assert together == [6]  # one upsert for the shop's six orders
    with app.app_context():
        redis = get_redis()
        assert inbox.inbox_figures(redis)[:2] == (0, 0.0)
        assert not redis.exists(inbox.slot_key(0))  # given back: the next burst starts a drain
    post(client, fake, shop, orders(7)[6], "wh-next")
    assert len(queued_jobs(app)) == 1


def test_a_redelivery_past_the_seen_window_is_skipped_by_its_receipt(app, client, fake, shop, run_jobs):
    order = orders(1)[0]
    assert post(client, fake, shop, order, "wh-late").json["status"] == "queued"
    run_jobs()
    with app.app_context():
        redis = get_redis()
        redis.delete(*redis.keys("posai:webhooks:seen:*"))  # Redis forgot it (the window passed)
    assert post(client, fake, shop, order, "wh-late").json["status"] == "queued"
    with app.app_context():
        assert drain.apply_entry(inbox.Entry.decode(redis.lindex(inbox.INBOX_KEY, 0))) == "duplicate"
    run_jobs()
    assert stored(app, shop.id)[0::2] == (1, ["processed"])


def test_a_delivery_that_fails_in_the_drain_is_retried_by_rq(app, client, fake, shop, run_jobs, monkeypatch):
    """The drain was the first attempt; RQ runs the rest of the schedule (10 s, then 60, 300)."""
    from posai_app.ingest import orders as ingest_orders

    good, bad = orders(2)
    calls = []
    real = ingest_orders.upsert_orders

    def flaky(shop_id, payloads, **kwargs):
        calls.append(len(payloads))
        if any(p["order_id"] == bad["id"] for p in payloads) and len(calls) <= 2:
            raise RuntimeError("database hiccup")  # the batch, then the delivery on its own
        return real(shop_id, payloads, **kwargs)

    monkeypatch.setattr(ingest_orders, "upsert_orders", flaky)
    post(client, fake, shop, bad, "wh-bad")
    post(client, fake, shop, good, "wh-good")
    run_jobs()
    assert stored(app, shop.id)[0::2] == (1, ["failed", "processed"])
    assert calls == [2, 1, 1]  # together, then one by one
    with app.app_context():
        queue = Queue("high", connection=get_redis())
        registry = ScheduledJobRegistry(queue=queue)
        (job_id,) = registry.get_job_ids()
        assert job_id == handlers.job_id_for(shop.id, "wh-bad")
        job = queue.fetch_job(job_id)
        assert job.retries_left == 2 and job.retry_intervals == [60, 300]
        registry.remove(job)
        queue.enqueue_job(job)  # its retry, now rather than in 10 s
    run_jobs()
    assert stored(app, shop.id)[0::2] == (2, ["processed", "processed"])


def test_a_batch_applies_a_shops_orders_together_and_retries_only_the_bad_one(
    app, client, fake, shop, run_jobs
):
    batch = orders(4)
    for i, order in enumerate(batch):
        post(client, fake, shop, order, f"wh-{i}")
    bad = {**batch[0], "id": 9_100_000_000_001, "line_items": [{"id": 1, "quantity": "many", "title": "x"}]}
    post(client, fake, shop, bad, "wh-bad")
    run_jobs()
    n_orders, n_items, statuses = stored(app, shop.id)
    assert (n_orders, n_items) == (4, sum(len(o["line_items"]) for o in batch))
    assert sorted(statuses) == ["failed", "processed", "processed", "processed", "processed"]
    with app.app_context():
        (job_id,) = ScheduledJobRegistry(queue=Queue("high", connection=get_redis())).get_job_ids()
        assert job_id == handlers.job_id_for(shop.id, "wh-bad")


def test_a_dead_drains_entries_go_back_and_are_applied_once(app, client, fake, shop, run_jobs):
    batch = orders(5)
    for i, order in enumerate(batch):
        post(client, fake, shop, order, f"wh-{i}")
    with app.app_context():
        redis = get_redis()
        redis.delete("rq:queue:high")  # the drain job is lost with its worker
        token = redis.get(inbox.slot_key(0)).decode()
        # What a drain does before it dies: take a batch, apply part of it.
        taken = inbox.script(redis, inbox.TAKE)(
            keys=[inbox.INBOX_KEY, inbox.taken_key(token), inbox.slot_key(0), inbox.DRAINS_KEY],
            args=[token, 3, inbox.SLOT_SECONDS, 100, "unused", "1"],
        )[0]
        assert drain.apply_entry(inbox.Entry.decode(taken[0])) == "processed"
        assert drain.recover() == {"returned": 0, "started": 0}  # its slot is alive: not touched
        redis.delete(inbox.slot_key(0))  # the slot expires: the drain is dead
        assert drain.recover() == {"returned": 3, "started": 1}
        assert redis.lrange(inbox.INBOX_KEY, 0, -1)[:3] == taken  # back at the head, in order
        assert not redis.smembers(inbox.DRAINS_KEY)
    run_jobs()
    n_orders, n_items, statuses = stored(app, shop.id)
    assert (n_orders, statuses) == (5, ["processed"] * 5)
    assert n_items == sum(len(o["line_items"]) for o in batch)


def test_a_delivery_a_dead_drain_left_half_applied_is_applied_again(app, client, fake, shop, run_jobs):
    """A handler commits part-way (handle_order, before asking for a retrain): a drain that died
    right there left a "received" receipt, which the replay must not take for a redelivery."""
    order = orders(1)[0]
    post(client, fake, shop, order, "wh-half")
    with app.app_context():
        receipts.record_in_transaction(shop.id, "wh-half", "orders/create", datetime.now(UTC))
        db.session.commit()
    run_jobs()
    assert stored(app, shop.id)[0::2] == (1, ["processed"])


def test_half_applied_deliveries_in_a_batch_of_orders_are_applied_again(app, client, fake, shop, run_jobs):
    batch = orders(3)
    for i, order in enumerate(batch):
        post(client, fake, shop, order, f"wh-{i}")
    with app.app_context():
        receipts.record_in_transaction(shop.id, "wh-1", "orders/create", datetime.now(UTC))
        db.session.commit()
    run_jobs()
    n_orders, n_items, statuses = stored(app, shop.id)
    assert (n_orders, statuses) == (3, ["processed"] * 3)
    assert n_items == sum(len(o["line_items"]) for o in batch)


UNREADABLE = [
    b"written by some other version\n{}",
    b'[1, "wh-x", ["orders/create"], null, 1]\n{}',  # a topic that is not a string
    b'[1, 7, "orders/create", null, 1]\n{}',  # nor a webhook id
    b'[1, "wh-y", "orders/create", null, 1e400]\n{}',
    b'{"shop": 1}\n{}',
]


def test_an_unreadable_entry_goes_to_the_dead_list_and_the_rest_is_applied(app, client, fake, shop, run_jobs):
    good = orders(2)
    with app.app_context():
        get_redis().rpush(inbox.INBOX_KEY, UNREADABLE[-1])  # at the head: /metrics still reads
    post(client, fake, shop, good[0], "wh-1")
    assert "posai_queue_redis_up 1.0" in client.get("/metrics").get_data(as_text=True)
    with app.app_context():
        get_redis().rpush(inbox.INBOX_KEY, *UNREADABLE[:-1])
    post(client, fake, shop, good[1], "wh-2")
    run_jobs()
    assert stored(app, shop.id)[0::2] == (2, ["processed", "processed"])
    with app.app_context():
        assert sorted(get_redis().lrange(inbox.DEAD_KEY, 0, -1)) == sorted(UNREADABLE)
    text = client.get("/metrics").get_data(as_text=True)
    assert f"posai_webhook_inbox_dead {float(len(UNREADABLE))}" in text


def test_an_entry_that_took_down_three_drains_goes_to_the_dead_list(app, client, fake, shop, run_jobs):
    first, second = orders(2)
    post(client, fake, shop, first, "wh-1")
    with app.app_context():
        redis = get_redis()
        (raw,) = redis.lrange(inbox.INBOX_KEY, 0, -1)
        for _ in range(inbox.MAX_RETURNS):  # three drains took it and died
            token = inbox.new_token()
            inbox.script(redis, inbox.TAKE)(
                keys=[inbox.INBOX_KEY, inbox.taken_key(token), inbox.slot_key(5), inbox.DRAINS_KEY],
                args=[token, 10, inbox.SLOT_SECONDS, 100, "unused", "1"],
            )
            redis.delete(inbox.slot_key(5))
            assert drain.recover()["returned"] == 1
    post(client, fake, shop, second, "wh-2")
    run_jobs()
    assert stored(app, shop.id)[0::2] == (1, ["processed"])
    with app.app_context():
        assert redis.lrange(inbox.DEAD_KEY, 0, -1) == [raw]


def test_a_delivery_the_drain_cannot_even_record_is_queued_alone(
    app, client, fake, shop, run_jobs, monkeypatch
):
    product = examples.product("products/update", 8_840_000_000_101, [])
    body, headers = fake.webhook("products/update", shop.domain, product, TEST_API_SECRET, webhook_id="wh-p")
    client.post("/webhooks", data=body, headers=headers)
    record = receipts.record_in_transaction

    def broken(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(receipts, "record_in_transaction", broken)
    with app.app_context():
        token = get_redis().get(inbox.slot_key(0)).decode()
        drain.drain(token, 0)  # does not raise: the delivery is handed to RQ as it is
        queue = Queue("high", connection=get_redis())
        job_ids = [j for j in queue.get_job_ids() if not j.startswith("webhook-drain-")]
        assert job_ids == [handlers.job_id_for(shop.id, "wh-p")]
        assert queue.fetch_job(job_ids[0]).retries_left == 3
        assert inbox.inbox_figures(get_redis())[0] == 0
    monkeypatch.setattr(receipts, "record_in_transaction", record)


def test_a_drain_that_lost_its_slot_mid_batch_stops_and_its_batch_is_applied_once(
    app, client, fake, shop, run_jobs, monkeypatch
):
    monkeypatch.setattr(drain, "REFRESH_SECONDS", 0)  # touch the slot before every delivery
    products = [examples.product("products/update", 8_840_000_000_101 + i, []) for i in range(3)]
    for i, product in enumerate(products):
        body, headers = fake.webhook(
            "products/update", shop.domain, product, TEST_API_SECRET, webhook_id=f"wh-{i}"
        )
        client.post("/webhooks", data=body, headers=headers)
    apply_entry = drain.apply_entry
    applied = []

    def then_judged_dead(entry):
        applied.append(entry.webhook_id)
        get_redis().set(inbox.slot_key(0), "another-drain")  # maintenance thought this one dead
        return apply_entry(entry)

    monkeypatch.setattr(drain, "apply_entry", then_judged_dead)
    with app.app_context():
        redis = get_redis()
        token = redis.get(inbox.slot_key(0)).decode()
        assert drain.drain(token, 0) == 0
        assert applied == ["wh-0"]
        redis.delete(inbox.slot_key(0))
        assert drain.recover()["returned"] == 3
    monkeypatch.setattr(drain, "apply_entry", apply_entry)
    run_jobs()
    with app.app_context():
        assert (
            sorted(
                db.session.scalars(
                    sa.select(WebhookDelivery.status).where(WebhookDelivery.shop_id == shop.id)
                )
            )
            == ["processed"] * 3
        )


def test_a_deep_inbox_gets_more_drains_and_a_long_drain_hands_over(
    app, client, fake, shop, run_jobs, monkeypatch
):
    monkeypatch.setitem(app.config, "WEBHOOK_DRAIN_BATCH", 2)
    monkeypatch.setitem(app.config, "WEBHOOK_DRAINS", 2)
    clock = itertools.count(0, 20)  # each look at the clock: 20 s later (WEBHOOK_DRAIN_SECONDS 30)
    monkeypatch.setattr(drain, "_monotonic", lambda: float(next(clock)))
    batch = orders(12)
    for i, order in enumerate(batch):
        post(client, fake, shop, order, f"wh-{i:02}")
    run_jobs()
    assert stored(app, shop.id)[0::2] == (12, ["processed"] * 12)
    with app.app_context():
        finished = FinishedJobRegistry(queue=Queue("high", connection=get_redis())).get_job_ids()
        slots = {
            Queue("high", connection=get_redis()).fetch_job(job_id).args[1]
            for job_id in finished
            if job_id.startswith("webhook-drain-")
        }
        assert len(finished) >= 3 and slots == {0, 1}  # a spawned drain, and successors
        assert inbox.inbox_figures(get_redis())[0] == 0


def test_a_refused_drain_job_leaves_the_delivery_safe_in_the_inbox(
    app, client, fake, shop, run_jobs, monkeypatch
):
    first, second = orders(2)

    refusing = [True]
    enqueue = inbox.enqueue

    def refuse(*args, **kwargs):
        if refusing[0]:
            raise ConnectionError("queue refused")
        return enqueue(*args, **kwargs)

    monkeypatch.setattr(inbox, "enqueue", refuse)
    assert post(client, fake, shop, first, "wh-1").json["status"] == "queued"
    assert queued_jobs(app) == []
    refusing[0] = False
    assert post(client, fake, shop, second, "wh-2").json["status"] == "queued"  # starts the drain
    run_jobs()
    assert stored(app, shop.id)[0::2] == (2, ["processed", "processed"])


def test_without_redis_answering_the_delivery_is_a_503_and_nothing_is_stored(make_app, app, fake, shop):
    down = make_app(REDIS_URL="redis://127.0.0.1:9/0", REDIS_CONNECT_TIMEOUT=0.2)
    body, headers = fake.webhook(
        "orders/create", shop.domain, orders(1)[0], TEST_API_SECRET, webhook_id="wh-x"
    )
    response = down.test_client().post("/webhooks", data=body, headers=headers)
    assert response.status_code == 503 and response.json["error"]
    assert stored(app, shop.id) == (0, 0, [])


def test_metrics_show_the_inbox_depth_and_age(app, client, fake, shop, monkeypatch):
    monkeypatch.setattr(inbox, "start_drain", lambda token, slot: None)  # no drain runs
    for i, order in enumerate(orders(3)):
        post(client, fake, shop, order, f"wh-{i}")
    time.sleep(0.25)
    text = client.get("/metrics").get_data(as_text=True)
    values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line.startswith("posai_webhook_inbox"))
    assert float(values["posai_webhook_inbox_depth"]) == 3
    assert 0.2 <= float(values["posai_webhook_inbox_oldest_age_seconds"]) < 60

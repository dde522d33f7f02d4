"""POST /webhooks: verify the HMAC, check the body, hand the delivery on, answer 200.

Shopify waits at most 5 s and retries on anything but 2xx, so this view does no work
itself: `posai_app.webhooks.handlers.process_webhook` applies the payload later. The shop
comes from the per-process snapshot cache the API uses (no SQL when warm). Then:
- with Redis (production), one Redis round trip and no SQL: the delivery goes into the inbox
  (`posai_app.webhooks.inbox`: dedupe, push, and a drain job when none is running), whose drains
  record the receipt and apply the delivery in batches (docs/ingestion.md, "Webhooks");
- without Redis, the receipt is recorded (`posai_app.webhooks.receipts`) and the job runs inline.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from posai_app.errors import BadRequest, error_response
from posai_app.extensions import db
from posai_app.inputs import check_json_object
from posai_app.queue import enqueue, get_redis
from posai_app.shops.snapshot import snapshot_for_domain
from posai_app.webhooks import inbox, receipts
from posai_app.webhooks.handlers import PROCESS_JOB, TOPICS, job_id_for
from posai_app.webhooks.verify import verify_hmac

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

# Orders with many line items make large bodies; the app-wide request limit is smaller.
MAX_WEBHOOK_BYTES = 25 * 1024 * 1024


@bp.before_request
def _allow_large_bodies() -> None:
    request.max_content_length = MAX_WEBHOOK_BYTES


@bp.post("")
def receive_webhook():
    body = request.get_data(cache=True)
    config = current_app.config
    secrets = (config.get("SHOPIFY_API_SECRET"), config.get("SHOPIFY_API_SECRET_OLD"))
    if not verify_hmac(body, request.headers.get("X-Shopify-Hmac-Sha256"), secrets):
        return Response(status=401)
    topic = request.headers.get("X-Shopify-Topic", "")
    shop_domain = request.headers.get("X-Shopify-Shop-Domain", "").lower()
    webhook_id = request.headers.get("X-Shopify-Webhook-Id") or request.headers.get("X-Shopify-Event-Id")
    if not topic or not shop_domain or not webhook_id:
        raise BadRequest("X-Shopify-Topic, X-Shopify-Shop-Domain and X-Shopify-Webhook-Id are required")
    # Checked here, applied by the job: a body its job's parse_json would refuse (nested
    # hundreds deep, not an object) is answered 400 now instead of failing every retry.
    check_json_object(body, what="Webhook body")
    if topic not in TOPICS:
        log.info("webhook %s: unhandled topic %s from %s acknowledged", webhook_id, topic, shop_domain)
        return _ack("ignored")
    # The cached snapshot (no SQL when warm; a change of the shop row reaches every process
    # within SERVING_CACHE_CHECK_INTERVAL through its "shop" change signal).
    shop = snapshot_for_domain(shop_domain)
    if shop is None:
        log.info("webhook %s: %s for unknown shop %s acknowledged", webhook_id, topic, shop_domain)
        return _ack("unknown_shop")
    if not shop.installed and not TOPICS[topic].compliance:
        return _ack("not_installed")
    if get_redis() is not None:
        return _to_inbox(shop.id, webhook_id, topic, body)
    return _record_and_apply(shop.id, shop_domain, webhook_id, topic, body)


def _to_inbox(shop_id: int, webhook_id: str, topic: str, body: bytes):
    """Redis: one Lua call (dedupe, push, maybe start a drain); the drain records the receipt."""
    try:
        status = inbox.accept(shop_id, webhook_id, topic, body, request.headers.get("X-Shopify-Triggered-At"))
    except Exception:
        log.exception("webhook %s: could not put %s in the inbox", webhook_id, topic)
        return error_response(503, "unavailable", "webhook could not be queued; retry later")
    return _ack(status)


def _record_and_apply(shop_id: int, shop_domain: str, webhook_id: str, topic: str, body: bytes):
    """No Redis (development, the demo): record the receipt, then run the job inline."""
    try:
        delivery_key = receipts.record(shop_id, webhook_id, topic)
    except sa.exc.IntegrityError:
        # The only constraint left after ON CONFLICT DO NOTHING is the shop's foreign key: the
        # shop was deleted (shop/redact) after this process last read its snapshot.
        db.session.rollback()
        log.info("webhook %s: %s for deleted shop %s acknowledged", webhook_id, topic, shop_domain)
        return _ack("unknown_shop")
    if delivery_key is None:
        return _ack("duplicate")
    enqueue(
        "high",
        PROCESS_JOB,
        shop_id,
        delivery_key,
        topic,
        body,
        request.headers.get("X-Shopify-Triggered-At"),
        job_id=job_id_for(shop_id, webhook_id),
    )
    return _ack("queued")


def _ack(status: str):
    return jsonify({"status": status}), 200

"""POST /webhooks: verify the HMAC, record the delivery (dedupe), enqueue the work, answer 200.

Shopify waits at most 5 s and retries on anything but 2xx, so this view does no work
itself: the job `posai_app.webhooks.handlers.process_webhook` applies the payload. At peak
(docs/ingestion.md, "Webhooks at peak rates") a delivery costs one PostgreSQL round trip and one
Redis round trip: the shop comes from the per-process snapshot cache the API uses, the dedupe
row is one autocommit INSERT (`posai_app.webhooks.receipts`), and the job carries the raw body
(it parses it itself).
"""

from __future__ import annotations

import hashlib
import logging
import re

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from posai_app.errors import BadRequest, error_response
from posai_app.extensions import db
from posai_app.inputs import parse_json
from posai_app.queue import RETRY, enqueue
from posai_app.shops.snapshot import snapshot_for_domain
from posai_app.webhooks import receipts
from posai_app.webhooks.handlers import PROCESS_JOB, TOPICS
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
    # Bounded nesting: a payload nested hundreds deep parses but can never be queued (the job
    # serialiser recurses), which used to answer 503 on every one of Shopify's retries.
    payload = parse_json(body, what="Webhook body")
    if not isinstance(payload, dict):
        raise BadRequest("Webhook body must be a JSON object")
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
    try:
        delivery_key = receipts.record(shop.id, webhook_id, topic)
    except sa.exc.IntegrityError:
        # The only constraint left after ON CONFLICT DO NOTHING is the shop's foreign key: the
        # shop was deleted (shop/redact) after this process last read its snapshot.
        db.session.rollback()
        log.info("webhook %s: %s for deleted shop %s acknowledged", webhook_id, topic, shop_domain)
        return _ack("unknown_shop")
    if delivery_key is None:
        return _ack("duplicate")
    try:
        enqueue(
            "high",
            PROCESS_JOB,
            shop.id,
            delivery_key,
            topic,
            body,  # the raw bytes, parsed by the job: cheaper to queue than the parsed dict
            request.headers.get("X-Shopify-Triggered-At"),
            job_id=_job_id(shop.id, webhook_id),
            retry=RETRY,
            description=f"{topic} webhook {delivery_key} of shop {shop.id}",
        )
    except Exception:
        # Not queued: forget the delivery so Shopify's retry is not taken for a duplicate.
        log.exception("webhook %s: could not enqueue %s", webhook_id, topic)
        receipts.forget(shop.id, delivery_key)
        return error_response(503, "unavailable", "webhook could not be queued; retry later")
    return _ack("queued")


# RQ refuses any other job id (ValueError), which answered 503 on every retry of a webhook whose
# id header held a dot, a space or a slash.
_JOB_ID_SAFE = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _job_id(shop_id: int, webhook_id: str) -> str:
    """The delivery's job id: its webhook id when RQ accepts it as one, else a digest of it."""
    if not _JOB_ID_SAFE.fullmatch(webhook_id):
        webhook_id = "h" + hashlib.sha256(webhook_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"webhook-{shop_id}-{webhook_id}"


def _ack(status: str):
    return jsonify({"status": status}), 200

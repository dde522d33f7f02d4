"""POST /api/events: the POS extension's `shown` / `added` batches (session token, CORS as the API)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from posai_app.api.views import CORS_HEADERS, MAX_BODY_BYTES, add_cors_headers
from posai_app.auth.decorators import current_shop_id, shop_required
from posai_app.errors import PayloadTooLarge
from posai_app.extensions import db
from posai_app.impact import events
from posai_app.inputs import parse_json

bp = Blueprint("impact", __name__, url_prefix="/api")
bp.after_request(add_cors_headers)


@bp.route("/events", methods=["OPTIONS"])
def events_preflight():
    return Response(status=204, headers=CORS_HEADERS)


@bp.post("/events")
@shop_required
def record_events():
    """200 {"accepted", "duplicates", "rejected": [{"index", "id"?, "reason"}]}; 400 for a malformed batch."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is over {MAX_BODY_BYTES // 1024} KB")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is over {MAX_BODY_BYTES // 1024} KB")
    batch = events.parse_batch(parse_json(raw, exact_numbers=True))
    result = events.record_batch(current_shop_id(), batch, current_app.config)
    db.session.commit()
    return jsonify(result.body())

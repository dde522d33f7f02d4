"""POST /api/recommendations: parse, authenticate (session token), answer; CORS for POS origins."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from posai_app.auth.decorators import current_shop_id, shop_required
from posai_app.errors import RETRY_HEADER, BadRequest, PayloadTooLarge
from posai_app.inputs import parse_id, parse_int, parse_json, parse_locale

api_bp = Blueprint("api", __name__, url_prefix="/api")

MAX_BODY_BYTES = 64 * 1024
MAX_CART_IDS = 100
MAX_LIMIT = 10
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Max-Age": "7200",
}


@api_bp.after_request
def add_cors_headers(response: Response) -> Response:
    # POS UI extensions call from Shopify's CDN origins; auth is the bearer token, not cookies.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = RETRY_HEADER
    response.headers.setdefault("Vary", "Origin")
    return response


@api_bp.route("/recommendations", methods=["OPTIONS"])
def recommendations_preflight():
    return Response(status=204, headers=CORS_HEADERS)


@api_bp.post("/recommendations")
@shop_required
def recommend():
    cart, limit, location, locale = parse_recommendation_request()
    from posai_app.api.recommendations import recommend_for_cart

    return jsonify(recommend_for_cart(current_shop_id(), cart, limit, location_id=location, locale=locale))


def parse_recommendation_request() -> tuple[list[int], int | None, int | None, str | None]:
    """Validate the body; every problem is a 400 (413 for size) that says what was wrong."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is over {MAX_BODY_BYTES // 1024} KB")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"Request body is over {MAX_BODY_BYTES // 1024} KB")
    payload = parse_json(raw, exact_numbers=True)
    if not isinstance(payload, dict):
        raise BadRequest('Body must be a JSON object like {"cartVariantIds": ["123"]}')
    if "cartVariantIds" not in payload:
        raise BadRequest("Field 'cartVariantIds' is required")
    ids = payload["cartVariantIds"]
    if not isinstance(ids, list):
        raise BadRequest("Field 'cartVariantIds' must be a list of variant ids")
    if len(ids) > MAX_CART_IDS:
        raise BadRequest(f"Field 'cartVariantIds' has {len(ids)} ids; at most {MAX_CART_IDS} are allowed")
    cart: list[int] = []
    for position, value in enumerate(ids):
        variant_id = parse_id(value, "ProductVariant")
        if variant_id is None:
            raise BadRequest(
                "Field 'cartVariantIds' must hold numeric variant ids",
                {"index": position, "value": str(value)[:64]},
            )
        if variant_id not in cart:
            cart.append(variant_id)
    raw_limit = payload.get("limit")  # null or absent: the shop's setting
    limit = None if raw_limit is None else parse_int(raw_limit)
    if raw_limit is not None and (limit is None or not 1 <= limit <= MAX_LIMIT):
        raise BadRequest(
            f"Field 'limit' must be an integer from 1 to {MAX_LIMIT}", {"limit": str(raw_limit)[:32]}
        )
    raw_location = payload.get("locationId")  # null or absent: no location (shop-wide stock)
    location = None if raw_location is None else parse_id(raw_location, "Location")
    if raw_location is not None and location is None:
        raise BadRequest(
            "Field 'locationId' must be a numeric location id or a gid://shopify/Location/… id",
            {"locationId": str(raw_location)[:64]},
        )
    raw_locale = payload.get("locale")  # null or absent: English
    locale = None if raw_locale is None else parse_locale(raw_locale)
    if raw_locale is not None and locale is None:
        raise BadRequest(
            "Field 'locale' must be a language tag such as 'en' or 'fr-CA'", {"locale": str(raw_locale)[:32]}
        )
    return cart, limit, location, locale

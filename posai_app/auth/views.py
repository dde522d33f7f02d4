"""GET /auth and GET /auth/callback: the authorization-code install."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request

from posai_app.auth import oauth
from posai_app.auth.headers import set_frame_ancestors
from posai_app.shops.lifecycle import install_shop

bp = Blueprint("auth", __name__)
bp.after_app_request(set_frame_ancestors)  # every response: only the shop's admin may frame us

_COOKIE_PATH = "/auth"


@bp.get("/auth")
def begin_install():
    shop_domain = oauth.require_shop_domain(request.args.get("shop"))
    # A direct link (`/auth?shop=...`) carries no hmac; when Shopify signed the query, it must verify.
    if "hmac" in request.args:
        oauth.verify_query_hmac(request.args, current_app.config)
    nonce, cookie_value = oauth.new_state(shop_domain)
    response = redirect(oauth.authorize_url(shop_domain, nonce))
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        oauth.STATE_COOKIE,
        cookie_value,
        max_age=oauth.STATE_MAX_AGE,
        path=_COOKIE_PATH,
        secure=current_app.config["APP_URL"].startswith("https://"),
        httponly=True,
        samesite="Lax",  # sent on Shopify's top-level redirect back to /auth/callback
    )
    return response


@bp.get("/auth/callback")
def finish_install():
    shop_domain = oauth.require_shop_domain(request.args.get("shop"))
    oauth.verify_query_hmac(request.args, current_app.config)
    oauth.check_state(request.cookies.get(oauth.STATE_COOKIE), request.args.get("state"), shop_domain)
    code = request.args.get("code", "")
    if not code:
        raise oauth.AuthorizationCodeRejected("The callback carries no authorization code")
    token_response = oauth.exchange_authorization_code(shop_domain, code)
    install_shop(shop_domain, token_response)
    response = redirect(oauth.embedded_app_url(shop_domain, request.args.get("host")))
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(oauth.STATE_COOKIE, path=_COOKIE_PATH)
    return response

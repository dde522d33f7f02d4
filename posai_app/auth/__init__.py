"""Install and authenticate like a Shopify app: token exchange, code grant, session tokens, tokens.

Public surface: `bp`; decorators.shop_required / current_shop / current_shop_id;
session_token.verify_session_token; tokens.get_access_token / refresh_access_token / AuthRevoked;
services.install_shop / uninstall_shop. Nothing outside this package imports shopify_app.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("auth", __name__)

from posai_app.auth import headers, views  # noqa: E402, F401  (register routes and the CSP hook)

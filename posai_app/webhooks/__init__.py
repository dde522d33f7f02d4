"""Shopify webhooks: one endpoint, POST /webhooks, routed by X-Shopify-Topic."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

from posai_app.webhooks import views  # noqa: E402,F401  (registers the routes on bp)

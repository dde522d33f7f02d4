"""The merchant's embedded admin page: report, charts, preview, settings, resync/retrain."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("admin", __name__)

from posai_app.admin import views  # noqa: E402,F401  (routes register on bp)

"""The POS API: POST /api/recommendations (JSON, session-token auth, CORS)."""

from posai_app.api.views import api_bp

__all__ = ["api_bp"]

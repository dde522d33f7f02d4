"""The POS API: POST /api/recommendations (JSON, session-token auth, CORS)."""

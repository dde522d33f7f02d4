"""Liveness (/healthz) and readiness (/readyz: database, and Redis when configured)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from posai_app.extensions import db
from posai_app.queue import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"error: {exc.__class__.__name__}"
    finally:
        db.session.remove()
    redis = get_redis()
    if redis is None:
        checks["redis"] = "not configured (jobs run inline)"
    else:
        try:
            redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    ready = all(v == "ok" or v.startswith("not configured") for v in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), (200 if ready else 503)

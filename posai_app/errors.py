"""One error envelope for the whole app: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from redis import exceptions as redis_exc
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details


class BadRequest(AppError):
    status, code = 400, "bad_request"


class ValidationFailed(AppError):
    status, code = 422, "validation_failed"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/webhooks")) or request.path == "/metrics":
        return True
    if request.headers.get("HX-Request"):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def error_response(status: int, code: str, message: str, details: dict | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    if _wants_json():
        response = jsonify({"error": body})
    elif request.headers.get("HX-Request"):
        response = Response(render_template("_error.html", error=body, status=status))
    else:
        response = Response(render_template("error.html", error=body, status=status))
    response.status_code = status
    if status == 401:
        response.headers[RETRY_HEADER] = "1"
    return response


def _unavailable(dependency: str) -> Response:
    response = error_response(
        503,
        "unavailable",
        f"The {dependency} is not answering; try again in a moment",
        {"dependency": dependency},
    )
    response.headers["Retry-After"] = "5"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(AppError)
    def handle_app_error(exc: AppError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(sa_exc.OperationalError)
    def handle_database_unavailable(exc: sa_exc.OperationalError):
        # Connect or statement deadline passed, or the server went away: say which dependency.
        from posai_app.extensions import db

        db.session.rollback()
        app.logger.warning("database unavailable: %s", str(exc.orig or exc)[:200])
        return _unavailable("database")

    @app.errorhandler(redis_exc.ConnectionError)
    @app.errorhandler(redis_exc.TimeoutError)
    def handle_redis_unavailable(exc: Exception):
        app.logger.warning("redis unavailable: %s", str(exc)[:200])
        return _unavailable("redis")

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

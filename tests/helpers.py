"""Test helpers shared across features (settings, session tokens)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.fernet import Fernet

TEST_API_KEY = "test-api-key-posai"
TEST_API_SECRET = "test-api-secret-posai-0123456789abcdef0123456789"  # >= 32 bytes
TEST_API_SECRET_OLD = "test-api-secret-old-posai-0123456789abcdef012345"

TEST_SETTINGS: dict[str, Any] = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-0123456789abcdef0123456789abcdef",
    "SHOPIFY_API_KEY": TEST_API_KEY,
    "SHOPIFY_API_SECRET": TEST_API_SECRET,
    "SHOPIFY_API_SECRET_OLD": TEST_API_SECRET_OLD,
    "POSAI_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "APP_URL": "https://posai.test",
    "POSAI_ENV": "test",
    "INLINE_JOBS_IN_BACKGROUND": False,  # inline jobs run inside the request: tests see their effect at once
    "SERVING_CACHE_CHECK_INTERVAL": 0.0,  # a change is seen by the next request, not 0.25 s later
}


def make_session_token(
    config: Mapping[str, Any], shop_domain: str, *, secret: str | None = None, **claims: Any
) -> str:
    """A session token shaped like App Bridge's (HS256, aud = API key, dest = shop URL)."""
    now = int(time.time())
    payload: dict[str, Any] = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": config["SHOPIFY_API_KEY"],
        "sub": "42",
        "exp": now + 60,
        "nbf": now - 5,
        "iat": now - 5,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret or config["SHOPIFY_API_SECRET"], algorithm="HS256")


def fail_after_batches(count: int, error: BaseException | type[BaseException], resource: str = "orders"):
    """An `on_progress` for sync_shop that raises `error` once `count` bulk batches are committed.

    Simulates a worker killed (or a budget spent) right after a commit: the sync reports
    after every commit, and a bulk batch is the report whose cursor counts new parents.
    """
    from posai_app.ingest.sync import load_cursor

    seen: set[int] = set()

    def report(state) -> None:
        if state.resource != resource:
            return
        groups = resume_point(load_cursor(state))
        if groups and groups not in seen:
            seen.add(groups)
            if len(seen) == count:
                raise error

    return report


def resume_point(cursor: dict) -> int:
    """Where a bulk import resumes: the parents stored (a spooled file: products, and orders on
    SQLite) or the lines written (orders streamed into PostgreSQL, `ingest.bulk_orders`)."""
    if cursor.get("stream"):
        return int(cursor.get("line") or 0)
    return int(cursor.get("groups") or 0)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the job can tidy up."""


def synced_rows(model, shop_id: int) -> list[tuple]:
    """Every column of a shop's order_line_items or product_variants rows but the tenant, in key
    order: what a clean import and a resumed one must agree on."""
    import sqlalchemy as sa

    from posai_app.extensions import db
    from posai_app.models import OrderLineItem

    columns = [c for c in model.__table__.columns if c.name != "shop_id"]
    order = [model.order_id, model.line_item_id] if model is OrderLineItem else [model.variant_id]
    return [
        tuple(row)
        for row in db.session.execute(sa.select(*columns).where(model.shop_id == shop_id).order_by(*order))
    ]


def synced_snapshot(shop_id: int) -> tuple[list[tuple], list[tuple]]:
    """(order_line_items rows, product_variants rows) of the shop, as `synced_rows` gives them."""
    from posai_app.models import OrderLineItem, ProductVariant

    return synced_rows(OrderLineItem, shop_id), synced_rows(ProductVariant, shop_id)

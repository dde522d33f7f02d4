"""The merchant's settings: defaults, the rules a change must follow, and atomic changes.

Settings live per shop in `shops.settings` (JSON). Every change locks the shop row first
(`locked_shop`), so concurrent changes never lose one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from posai_app.errors import NotFound, ValidationFailed
from posai_app.extensions import db
from posai_app.ingest import catalog
from posai_app.models import Shop

DEFAULT_SETTINGS: dict[str, Any] = {
    "recommendation_limit": 2,
    "excluded_product_ids": [],
    "excluded_product_types": [],
    "excluded_vendors": [],
    "excluded_tags": [],
    "bestseller_fallback": True,
    "retrain_interval_minutes": 60,
}
RETRAIN_INTERVAL_MIN, RETRAIN_INTERVAL_MAX = 15, 7 * 24 * 60
LIMIT_MIN, LIMIT_MAX = 1, 10
MAX_EXCLUDED = 500


def setting(settings: Mapping[str, Any] | None, name: str) -> Any:
    """One setting's value from a shop's stored settings, its default when unset."""
    return (settings or {}).get(name, DEFAULT_SETTINGS[name])


def shop_setting(shop: Shop, name: str) -> Any:
    return setting(shop.settings, name)


def current_settings(shop_id: int) -> dict[str, Any]:
    """Every setting with its default filled in, plus the excluded products' titles."""
    shop = db.session.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    values = {name: shop_setting(shop, name) for name in DEFAULT_SETTINGS}
    values["excluded_products"] = catalog.product_titles(shop_id, values["excluded_product_ids"])
    return values


def _int_field(form: dict[str, Any], name: str, low: int, high: int, label: str, errors: dict) -> int | None:
    raw = str(form.get(name, "")).strip()
    if raw == "":
        errors[name] = f"{label} is required."
        return None
    try:
        value = int(raw)
    except ValueError:
        errors[name] = f"{label} must be a whole number."
        return None
    if not low <= value <= high:
        errors[name] = f"{label} must be between {low} and {high}."
        return None
    return value


def validate_settings(form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the settings form; returns (clean values, errors by field)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    limit = _int_field(
        form, "recommendation_limit", LIMIT_MIN, LIMIT_MAX, "Number of recommendations", errors
    )
    interval = _int_field(
        form,
        "retrain_interval_minutes",
        RETRAIN_INTERVAL_MIN,
        RETRAIN_INTERVAL_MAX,
        "Retrain interval (minutes)",
        errors,
    )
    fallback_raw = str(form.get("bestseller_fallback", "")).strip().lower()
    if fallback_raw not in ("", "0", "1", "on", "off", "true", "false", "yes", "no"):
        errors["bestseller_fallback"] = "Bestseller fallback must be on or off."
    values["bestseller_fallback"] = fallback_raw in ("1", "on", "true", "yes")
    if limit is not None:
        values["recommendation_limit"] = limit
    if interval is not None:
        values["retrain_interval_minutes"] = interval
    return values, errors


def update_settings(shop_id: int, form: dict[str, Any]) -> dict[str, Any]:
    """Validate and store the scalar settings; raises ValidationFailed with per-field details."""
    values, errors = validate_settings(form)
    if errors:
        raise ValidationFailed("Please fix the highlighted settings", details=errors)
    shop = locked_shop(shop_id)
    # Reassign (not mutate) so SQLAlchemy sees the JSON column change.
    shop.settings = {**(shop.settings or {}), **values}
    return current_settings(shop_id)


def locked_shop(shop_id: int) -> Shop:
    """The shop row, locked for the rest of the transaction: settings are read, changed, written.

    Without the lock two concurrent changes both read the old settings JSON and the second
    write loses the first (20 concurrent exclusions stored 16). A no-op UPDATE takes the
    row lock on PostgreSQL and SQLite's write lock alike, then the row is re-read.
    """
    db.session.execute(sa.update(Shop).where(Shop.id == shop_id).values(id=Shop.id))
    shop = db.session.get(Shop, shop_id, populate_existing=True)
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found")
    return shop


def add_excluded_product(shop_id: int, product_id: int) -> list[int]:
    """Exclude one of the shop's products from recommendations; returns the new list."""
    if not catalog.product_exists(shop_id, product_id):
        raise ValidationFailed(
            f"Product {product_id} is not in this shop's catalog", details={"product_id": product_id}
        )
    shop = locked_shop(shop_id)
    current = [int(p) for p in shop_setting(shop, "excluded_product_ids")]
    if product_id not in current:
        if len(current) >= MAX_EXCLUDED:
            raise ValidationFailed(
                f"At most {MAX_EXCLUDED} products can be excluded", details={"product_id": product_id}
            )
        current.append(product_id)
        shop.settings = {**(shop.settings or {}), "excluded_product_ids": current}
    return current


def remove_excluded_product(shop_id: int, product_id: int) -> list[int]:
    """Stop excluding a product (a no-op when it was not excluded); returns the new list."""
    shop = locked_shop(shop_id)
    current = [int(p) for p in shop_setting(shop, "excluded_product_ids") if int(p) != product_id]
    shop.settings = {**(shop.settings or {}), "excluded_product_ids": current}
    return current

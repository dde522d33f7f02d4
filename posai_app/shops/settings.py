"""The merchant's settings: defaults, the rules a change must follow, and atomic changes.

Settings live per shop in `shops.settings` (JSON). Every change locks the shop row first
(`locked_shop`), so concurrent changes never lose one another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.errors import NotFound, ValidationFailed
from posai_app.extensions import db
from posai_app.ingest import catalog
from posai_app.models import ProductPin, Shop
from posai_app.tenancy import of_shop, select_for_shop

DEFAULT_SETTINGS: dict[str, Any] = {
    "recommendation_limit": 2,
    "excluded_product_ids": [],
    "excluded_product_types": [],
    "excluded_vendors": [],
    "excluded_tags": [],
    "bestseller_fallback": True,
    "retrain_interval_minutes": 60,
    # Champion–challenger (docs/impact.md): the share of carts (per cent) the training's runner-up
    # answers, off by default, and whether a significant win makes it live without the merchant.
    "challenger_share": 0,
    "challenger_auto_switch": False,
}
RETRAIN_INTERVAL_MIN, RETRAIN_INTERVAL_MAX = 15, 7 * 24 * 60
LIMIT_MIN, LIMIT_MAX = 1, 10
MAX_EXCLUDED = 500
CHALLENGER_SHARE_MIN, CHALLENGER_SHARE_MAX = 0, 50
CHALLENGER_SHARES = (0, 5, 10, 20, 50)  # what the admin offers; any whole number in range is valid
_BOOLEAN = ("", "0", "1", "on", "off", "true", "false", "yes", "no")
_TRUE = ("1", "on", "true", "yes")


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


def _bool_field(form: dict[str, Any], name: str, label: str, errors: dict) -> bool:
    """A checkbox: absent or empty is off; anything but the usual spellings is an error."""
    raw = str(form.get(name, "")).strip().lower()
    if raw not in _BOOLEAN:
        errors[name] = f"{label} must be on or off."
    return raw in _TRUE


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
    values["bestseller_fallback"] = _bool_field(form, "bestseller_fallback", "Bestseller fallback", errors)
    if "challenger_share" in form:  # the champion–challenger fields travel together (a form without
        # them, such as an API client's from before, leaves both as they are)
        share = _int_field(
            form,
            "challenger_share",
            CHALLENGER_SHARE_MIN,
            CHALLENGER_SHARE_MAX,
            "Challenger share (%)",
            errors,
        )
        if share is not None:
            values["challenger_share"] = share
        auto = _bool_field(form, "challenger_auto_switch", "Automatic switch", errors)
        values["challenger_auto_switch"] = auto
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


# ---- exclusions by product type, vendor and tag (stored in `shops.settings`, matched ignoring case)

EXCLUSION_FIELDS = {
    "product_type": ("excluded_product_types", "Product type"),
    "vendor": ("excluded_vendors", "Vendor"),
    "tag": ("excluded_tags", "Tag"),
}
MAX_EXCLUDED_VALUES = 100  # per field
MAX_VALUE_LENGTH = 255


def _clean_value(field: str, value: Any) -> str:
    if field not in EXCLUSION_FIELDS:
        raise ValidationFailed("Exclude by product_type, vendor or tag", details={"field": str(field)[:20]})
    label = EXCLUSION_FIELDS[field][1]
    text = " ".join(str(value or "").split())
    if not text:
        raise ValidationFailed(f"{label} is required.", details={"value": ""})
    if len(text) > MAX_VALUE_LENGTH or "," in text and field == "tag":
        raise ValidationFailed(
            f"{label} must be one value of at most {MAX_VALUE_LENGTH} characters",
            details={"value": text[:40]},
        )
    return text


def add_excluded_value(shop_id: int, field: str, value: Any) -> list[str]:
    """Exclude every product of a type, vendor or tag (case does not matter); returns the new list."""
    text = _clean_value(field, value)
    name, label = EXCLUSION_FIELDS[field]
    shop = locked_shop(shop_id)
    current = [str(v) for v in shop_setting(shop, name)]
    if text.casefold() not in {v.casefold() for v in current}:
        if len(current) >= MAX_EXCLUDED_VALUES:
            raise ValidationFailed(
                f"At most {MAX_EXCLUDED_VALUES} values can be excluded by {label.lower()}",
                details={"value": text[:40]},
            )
        current.append(text)
        shop.settings = {**(shop.settings or {}), name: current}
    return current


def remove_excluded_value(shop_id: int, field: str, value: Any) -> list[str]:
    """Stop excluding a type, vendor or tag (a no-op when it was not excluded); returns the new list."""
    text = _clean_value(field, value)
    name, _label = EXCLUSION_FIELDS[field]
    shop = locked_shop(shop_id)
    current = [str(v) for v in shop_setting(shop, name) if str(v).casefold() != text.casefold()]
    shop.settings = {**(shop.settings or {}), name: current}
    return current


# ---- pins: the merchant's "pairs with" products, as `product_pins` rows
#
# Rows rather than settings JSON: an import from Search & Discovery can pair every product of a
# large catalog, and `shops.settings` is read whole into every process's shop snapshot and
# rewritten by every settings change. Rows keep the snapshot small, let the API cache pins under
# their own "pins" signal, make (shop, product, pinned product) unique in the database, and are
# deleted with the shop like every ShopOwned table. Every change still locks the shop row first,
# so the per-product limit holds under concurrent changes.

MAX_PINS_PER_PRODUCT = 5
MAX_PINNED_PRODUCTS = 5_000  # products with pins
MERCHANT, SEARCH_DISCOVERY = "merchant", "search_discovery"


def _product_pins(shop_id: int, product_id: int) -> list[ProductPin]:
    return list(
        db.session.scalars(
            select_for_shop(ProductPin, shop_id)
            .where(ProductPin.product_id == product_id)
            .order_by(ProductPin.position, ProductPin.pinned_product_id)
        )
    )


def add_pin(shop_id: int, product_id: int, pinned_product_id: int) -> list[int]:
    """Suggest `pinned_product_id` first whenever `product_id` is in the cart; returns its pins in order."""
    if product_id == pinned_product_id:
        raise ValidationFailed("A product cannot be paired with itself", details={"product_id": product_id})
    missing = {product_id, pinned_product_id} - catalog.existing_products(
        shop_id, [product_id, pinned_product_id]
    )
    if missing:
        raise ValidationFailed(
            f"Product {min(missing)} is not in this shop's catalog", details={"product_id": min(missing)}
        )
    locked_shop(shop_id)
    pins = _product_pins(shop_id, product_id)
    if any(p.pinned_product_id == pinned_product_id for p in pins):
        return [p.pinned_product_id for p in pins]
    if len(pins) >= MAX_PINS_PER_PRODUCT:
        raise ValidationFailed(
            f"At most {MAX_PINS_PER_PRODUCT} products can be paired with one product",
            details={"product_id": product_id},
        )
    if not pins and _pinned_product_count(shop_id) >= MAX_PINNED_PRODUCTS:
        raise ValidationFailed(
            f"At most {MAX_PINNED_PRODUCTS} products can have pairings", details={"product_id": product_id}
        )
    position = max((p.position for p in pins), default=-1) + 1
    db.session.add(
        ProductPin(
            shop_id=shop_id,
            product_id=product_id,
            pinned_product_id=pinned_product_id,
            position=position,
            origin=MERCHANT,
        )
    )
    db.session.flush()
    return [p.pinned_product_id for p in pins] + [pinned_product_id]


def remove_pin(shop_id: int, product_id: int, pinned_product_id: int) -> None:
    """Stop pairing (a no-op when they were not paired)."""
    locked_shop(shop_id)
    for pin in _product_pins(shop_id, product_id):
        if pin.pinned_product_id == pinned_product_id:
            db.session.delete(pin)
    db.session.flush()


def _pinned_product_count(shop_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(sa.distinct(ProductPin.product_id))).where(of_shop(ProductPin, shop_id))
    )


def import_discovery_pins(shop_id: int, pairs: Mapping[int, list[int]]) -> dict[str, int]:
    """Replace the shop's Search & Discovery pins with `pairs` (product -> complementary products,
    Shopify's order). The merchant's own pins stay first; products outside the catalog, a
    product paired with itself and pins beyond the per-product limit are left out."""
    wanted = {int(p): [int(c) for c in cs] for p, cs in pairs.items()}
    every = sorted({p for p in wanted} | {c for cs in wanted.values() for c in cs})
    known = catalog.existing_products(shop_id, every)
    locked_shop(shop_id)
    touch(shop_id, "pins")  # a Core delete raises no signal by itself
    db.session.execute(
        sa.delete(ProductPin).where(of_shop(ProductPin, shop_id), ProductPin.origin == SEARCH_DISCOVERY)
    )
    db.session.flush()
    own: dict[int, list[int]] = {}
    for pin in db.session.scalars(select_for_shop(ProductPin, shop_id).order_by(ProductPin.position)):
        own.setdefault(pin.product_id, []).append(pin.pinned_product_id)
    summary = {"products": 0, "pins": 0, "skipped": 0}
    pinned_products = len(own)
    for product_id, complementary in sorted(wanted.items()):
        if product_id not in known:
            summary["skipped"] += len(complementary)
            continue
        current = own.get(product_id, [])
        if not current and pinned_products >= MAX_PINNED_PRODUCTS:
            summary["skipped"] += len(complementary)
            continue
        added = 0
        for position, pinned in enumerate(dict.fromkeys(complementary), start=len(current)):
            if pinned == product_id or pinned not in known or pinned in current:
                summary["skipped"] += 1
                continue
            if len(current) + added >= MAX_PINS_PER_PRODUCT:
                summary["skipped"] += 1
                continue
            db.session.add(
                ProductPin(
                    shop_id=shop_id,
                    product_id=product_id,
                    pinned_product_id=pinned,
                    position=position + 100,  # after the merchant's own, in Shopify's order
                    origin=SEARCH_DISCOVERY,
                )
            )
            added += 1
        if added:
            summary["products"] += 1
            summary["pins"] += added
            pinned_products += not current
    db.session.flush()
    return summary


def current_pins(shop_id: int) -> list[dict[str, Any]]:
    """Every product with pins, with titles: [{product_id, title, pins: [{product_id, title, origin}]}]."""
    rows = list(
        db.session.scalars(
            select_for_shop(ProductPin, shop_id).order_by(
                ProductPin.product_id, ProductPin.position, ProductPin.pinned_product_id
            )
        )
    )
    ids = sorted({r.product_id for r in rows} | {r.pinned_product_id for r in rows})
    titles = {t["product_id"]: t["title"] for t in catalog.product_titles(shop_id, ids)}
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        entry = out.setdefault(
            row.product_id, {"product_id": row.product_id, "title": titles[row.product_id], "pins": []}
        )
        entry["pins"].append(
            {
                "product_id": row.pinned_product_id,
                "title": titles[row.pinned_product_id],
                "origin": row.origin,
            }
        )
    return sorted(out.values(), key=lambda e: e["title"].casefold())

"""Stock per location into `inventory_levels` (and the locations seen into `shop_locations`).

Levels come from product syncs (each variant's `inventoryItem.inventoryLevels`) and from the
`inventory_levels/update` webhook. Writes are guarded by Shopify's `updatedAt` of the level,
so a late sync page never overwrites a newer webhook, and raise the "catalog" change signal:
the API's cached catalog rows carry each variant's levels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from posai_app.cache_signals import touch
from posai_app.extensions import db, insert
from posai_app.ingest import upserts
from posai_app.models import InventoryLevel, ShopLocation, utcnow
from posai_app.tenancy import of_shop


def store_levels(shop_id: int, levels: Iterable[dict]) -> int:
    """Upsert {"inventory_item_id", "location_id", "available", "updated_at"} rows; returns how many."""
    rows = {
        (int(level["inventory_item_id"]), int(level["location_id"])): {
            "shop_id": shop_id,
            "inventory_item_id": int(level["inventory_item_id"]),
            "location_id": int(level["location_id"]),
            "available": level.get("available"),
            "shopify_updated_at": level.get("updated_at"),
        }
        for level in levels
    }
    if not rows:
        return 0
    touch(shop_id, "catalog")
    upserts.upsert_rows(
        InventoryLevel.__table__, ("shop_id", "inventory_item_id", "location_id"), list(rows.values())
    )
    _note_locations(shop_id, {location for _, location in rows})
    return len(rows)


def replace_item_levels(shop_id: int, levels_by_item: Mapping[int, list[dict]]) -> None:
    """Each item's complete list of levels (a sync read them all): upsert them, and drop the item's
    levels at locations the list no longer names (the item was disconnected from them)."""
    store_levels(
        shop_id,
        ({**level, "inventory_item_id": item} for item, levels in levels_by_item.items() for level in levels),
    )
    # One DELETE per chunk of items (not per item): a bulk sync names thousands of them.
    removed = 0
    items: list[int] = []
    keep: list[tuple[int, int]] = []
    for position, (item, levels) in enumerate(levels_by_item.items()):
        items.append(int(item))
        keep.extend((int(item), int(level["location_id"])) for level in levels)
        if len(items) + 2 * len(keep) >= upserts.ID_CHUNK or position == len(levels_by_item) - 1:
            condition = [of_shop(InventoryLevel, shop_id), InventoryLevel.inventory_item_id.in_(items)]
            if keep:
                pair = sa.tuple_(InventoryLevel.inventory_item_id, InventoryLevel.location_id)
                condition.append(pair.not_in(keep))
            removed += db.session.execute(sa.delete(InventoryLevel).where(*condition)).rowcount or 0
            items, keep = [], []
    if removed:
        touch(shop_id, "catalog")


def _note_locations(shop_id: int, locations: set[int]) -> None:
    now = utcnow()
    stmt = insert(ShopLocation).on_conflict_do_nothing(index_elements=["shop_id", "location_id"])
    db.session.execute(
        stmt, [{"shop_id": shop_id, "location_id": loc, "first_seen_at": now} for loc in sorted(locations)]
    )

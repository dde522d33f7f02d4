"""The one way to read merchant data: every query is filtered by shop_id.

Every table but `shops` carries `shop_id` through `ShopOwned`. Reads go through
`select_for_shop` / `get_for_shop_or_404`; a shop's rows are removed in one
transaction by `delete_shop_data`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from posai_app.errors import NotFound
from posai_app.extensions import db


class ShopOwned:
    """Mixin: a non-null, indexed shop_id FK that cascades on delete."""

    @declared_attr
    def shop_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(sa.ForeignKey("shops.id", ondelete="CASCADE"), nullable=False, index=True)


def select_for_shop(model, shop_id: int) -> sa.Select:
    """SELECT model rows belonging to one shop (add further filters to the result)."""
    if not isinstance(shop_id, int):
        raise TypeError("shop_id must be an int")
    return sa.select(model).where(model.shop_id == shop_id)


def get_for_shop_or_404(model, object_id: int, shop_id: int):
    """One row by primary key, or NotFound if it is missing or belongs to another shop."""
    row = db.session.scalar(select_for_shop(model, shop_id).where(model.id == object_id))
    if row is None:
        raise NotFound(f"{model.__name__} {object_id} not found")
    return row


def shop_owned_models() -> list[type]:
    """Every mapped model that carries shop_id, children first (safe delete order)."""
    from posai_app import models  # noqa: F401  (registers every model)

    owned = [m.class_ for m in db.Model.registry.mappers if issubclass(m.class_, ShopOwned)]
    return sorted(owned, key=lambda m: m.__tablename__)


def delete_shop_data(shop_id: int, *, keep_shop: bool = False) -> dict[str, int]:
    """Delete every row of one shop in the current transaction; the caller commits.

    Explicit deletes (not only ON DELETE CASCADE) so SQLite without foreign keys
    and tables added later are covered too. Returns the row counts removed.
    """
    from posai_app.cache_signals import touch
    from posai_app.models import Shop

    touch(shop_id)  # every cached view of this shop is stale once this commits
    removed: dict[str, int] = {}
    for model in shop_owned_models():
        result = db.session.execute(sa.delete(model).where(model.shop_id == shop_id))
        removed[model.__tablename__] = result.rowcount or 0
    if not keep_shop:
        db.session.execute(sa.delete(Shop).where(Shop.id == shop_id))
    return removed

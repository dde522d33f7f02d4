"""The one way to read merchant data: every query is filtered by shop_id.

Every table but `shops` carries `shop_id` (models.ShopOwned). Reads of shop-owned rows go
through `select_for_shop` / `get_for_shop_or_404`, writes through `update_for_shop` /
`delete_for_shop`: the shop filter is never written by hand.
"""

from __future__ import annotations

import sqlalchemy as sa

from posai_app.errors import NotFound
from posai_app.extensions import db


def of_shop(model, shop_id: int) -> sa.ColumnElement[bool]:
    """The criterion "this row belongs to the shop", for a model, an alias or a Core table.

    The one place a shop filter is written: every query of shop-owned rows uses it, directly
    or through the helpers below (a test fails on a hand-written `shop_id ==` elsewhere).
    """
    if not isinstance(shop_id, int) or isinstance(shop_id, bool):
        raise TypeError("shop_id must be an int")
    column = model.c.shop_id if isinstance(model, sa.Table) else model.shop_id
    return column == shop_id


def select_for_shop(model, shop_id: int, *columns) -> sa.Select:
    """SELECT one shop's rows of `model` (or only `columns` of them); add further filters to it."""
    return sa.select(*(columns or (model,))).where(of_shop(model, shop_id))


def get_for_shop_or_404(model, object_id: int, shop_id: int):
    """One row by primary key, or NotFound if it is missing or belongs to another shop."""
    row = db.session.scalar(select_for_shop(model, shop_id).where(model.id == object_id))
    if row is None:
        raise NotFound(f"{model.__name__} {object_id} not found")
    return row


def update_for_shop(model, shop_id: int) -> sa.Update:
    """UPDATE of one shop's rows of `model` (add .where(...) and .values(...))."""
    return sa.update(model).where(of_shop(model, shop_id))


def delete_for_shop(model, shop_id: int) -> sa.Delete:
    """DELETE of one shop's rows of `model` (add .where(...) to narrow it)."""
    return sa.delete(model).where(of_shop(model, shop_id))

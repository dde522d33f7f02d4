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
    _check(shop_id)
    column = model.c.shop_id if isinstance(model, sa.Table) else model.shop_id
    return column == shop_id


def _check(shop_id) -> None:
    if not isinstance(shop_id, int) or isinstance(shop_id, bool):
        raise TypeError("shop_id must be an int")


def select_for_shop(model, shop_id: int, *columns) -> sa.Select:
    """SELECT one shop's rows of `model` (or only `columns` of them); add further filters to it."""
    return sa.select(*(columns or (model,))).where(of_shop(model, shop_id))


def get_for_shop_or_404(model, key, shop_id: int):
    """One row by its key within the shop (its primary key after shop_id: a value, or a tuple for
    a longer key), or NotFound if the shop has no such row. Every primary key starts with
    shop_id, so another shop's row with the same key is never found."""
    _check(shop_id)
    rest = key if isinstance(key, tuple) else (key,)
    row = db.session.get(model, (shop_id, *rest))
    if row is None:
        raise NotFound(f"{model.__name__} {key} not found")
    return row


def update_for_shop(model, shop_id: int) -> sa.Update:
    """UPDATE of one shop's rows of `model` (add .where(...) and .values(...))."""
    return sa.update(model).where(of_shop(model, shop_id))


def delete_for_shop(model, shop_id: int) -> sa.Delete:
    """DELETE of one shop's rows of `model` (add .where(...) to narrow it)."""
    return sa.delete(model).where(of_shop(model, shop_id))

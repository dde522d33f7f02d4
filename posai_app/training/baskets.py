"""Read a shop's order history as engine baskets, streaming from the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.reco import Order

RECENT_WINDOW = timedelta(days=90)


def trainable_line_items(shop_id: int) -> sa.Select:
    """Line items that teach the recommender: real variants; no custom sales, gift cards, cancellations."""
    gift_cards = sa.select(ProductVariant.variant_id).where(
        ProductVariant.shop_id == shop_id, ProductVariant.is_gift_card.is_(True)
    )
    return (
        sa.select(OrderLineItem.order_id, OrderLineItem.created_at, OrderLineItem.variant_id)
        .where(
            OrderLineItem.shop_id == shop_id,
            OrderLineItem.variant_id.is_not(None),
            OrderLineItem.is_custom_sale.is_(False),
            OrderLineItem.cancelled_at.is_(None),
            OrderLineItem.variant_id.not_in(gift_cards),
        )
        # Line item ids grow in cart order, so this keeps each basket in line-item order.
        .order_by(OrderLineItem.created_at, OrderLineItem.order_id, OrderLineItem.line_item_id)
    )


def iter_orders(shop_id: int, batch_size: int = 20_000) -> Iterator[Order]:
    """Yield one engine Order per order, in created_at order, without loading all rows at once."""
    result = db.session.execute(
        trainable_line_items(shop_id).execution_options(yield_per=batch_size, stream_results=True)
    )
    current_id = None
    created_at: datetime | None = None
    items: list[str] = []
    for order_id, created, variant_id in result:
        if order_id != current_id:
            if current_id is not None:
                yield Order(str(current_id), created_at, items)
            current_id, created_at, items = order_id, created, []
        vid = str(variant_id)
        if vid not in items:
            items.append(vid)
    if current_id is not None:
        yield Order(str(current_id), created_at, items)


def recent_counts(orders: list[Order], window: timedelta = RECENT_WINDOW) -> dict[str, int]:
    """Orders per variant in the `window` ending at the shop's latest order (recent bestsellers).

    Anchored at the latest order rather than the wall clock, so a shop whose
    history stopped a while ago still has bestsellers.
    """
    if not orders:
        return {}
    latest = max(o.created_at for o in orders)
    since = latest - window
    counts: dict[str, int] = {}
    for order in orders:
        if order.created_at >= since:
            for vid in order.variant_ids:
                counts[vid] = counts.get(vid, 0) + 1
    return counts

"""Read a shop's order history from the database straight into the engine's History (arrays only).

PostgreSQL streams the trainable line items through one `COPY (...) TO STDOUT (FORMAT BINARY)`,
packed server-side into large bytea rows of (order id, created_at, variant id) int8 triples
that numpy reads in place, so no Python object is made per order or per line item. SQLite (the
embedded default, small shops) fetches the same query in large batches. Grouping into baskets,
dropping repeated variants, the time keys and the vocabulary are vectorised and give exactly
what `iter_orders` (kept as the readable definition) followed by `History.from_orders` gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from posai_app.extensions import db
from posai_app.models import OrderLineItem, ProductVariant
from posai_app.reco import Order
from posai_app.tenancy import of_shop

if TYPE_CHECKING:
    import numpy as np

    from posai_app.reco.stats import History

FETCH_BATCH = 100_000  # SQLite rows per fetchmany()
# PostgreSQL's binary timestamptz counts microseconds from 2000-01-01 UTC; time keys from 1970.
_PG_EPOCH_US = 946_684_800 * 1_000_000
_PG_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


# Line item ids grow in cart order, so this keeps each basket in line-item order.
BASKET_ORDER = (OrderLineItem.created_at, OrderLineItem.order_id, OrderLineItem.line_item_id)


def trainable_line_items(shop_id: int, *columns) -> sa.Select:
    """Line items that teach the recommender: real variants; no custom sales, gift cards, cancellations.

    Selects `columns` (default: order id, created_at, variant id) in basket order.
    """
    gift_cards = sa.select(ProductVariant.variant_id).where(
        of_shop(ProductVariant, shop_id), ProductVariant.is_gift_card.is_(True)
    )
    columns = columns or (OrderLineItem.order_id, OrderLineItem.created_at, OrderLineItem.variant_id)
    return (
        sa.select(*columns)
        .where(
            of_shop(OrderLineItem, shop_id),
            OrderLineItem.variant_id.is_not(None),
            OrderLineItem.is_custom_sale.is_(False),
            OrderLineItem.cancelled_at.is_(None),
            OrderLineItem.variant_id.not_in(gift_cards),
        )
        .order_by(*BASKET_ORDER)
    )


def iter_orders(shop_id: int, batch_size: int = 20_000) -> Iterator[Order]:
    """Yield one engine Order per order, in created_at order (the definition `load_history` follows)."""
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


def load_history(shop_id: int) -> History:
    """The shop's trainable history as the engine's History, read into arrays."""
    if db.session.get_bind().dialect.name == "postgresql":
        columns = _copy_line_items(shop_id)
    else:
        columns = _fetch_line_items(shop_id)
    return history_from_line_items(*columns)


def _copy_line_items(shop_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order ids, time keys, variant ids) of the trainable line items via one binary COPY.

    libpq hands a COPY over one row at a time, so the server packs the rows first: each output
    row is one bytea holding a calendar month of line items in basket order, 24 bytes each
    (order id, created_at as PostgreSQL's microseconds since 2000, variant id, big-endian int8).
    Months follow each other in time, so the packs in order are the whole history in order
    (and a pack stays far below bytea's 1 GB limit).
    """
    import numpy as np

    rows = trainable_line_items(
        shop_id,
        OrderLineItem.order_id,
        OrderLineItem.created_at,
        OrderLineItem.variant_id,
        OrderLineItem.line_item_id,
        sa.func.date_trunc("month", OrderLineItem.created_at).label("month"),
    ).order_by(None)
    inner = rows.compile(dialect=db.session.get_bind().dialect)
    # Only constants and the compiled query go into the text; shop_id stays a bound parameter.
    statement = (
        "COPY (SELECT string_agg(int8send(order_id) || timestamptz_send(created_at) || int8send(variant_id),"  # noqa: S608
        f" ''::bytea ORDER BY created_at, order_id, line_item_id) FROM ({inner}) AS line_items"
        " GROUP BY month ORDER BY month) TO STDOUT (FORMAT BINARY)"
    )
    buffer = bytearray()
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        # COPY takes no server-side parameters; psycopg merges these (shop_id) client-side.
        with cursor.copy(statement, inner.params) as copy:
            for block in copy:
                buffer += block
    finally:
        cursor.close()
    packed = np.dtype([("order", ">i8"), ("time", ">i8"), ("variant", ">i8")])
    packs = [np.frombuffer(pack, dtype=packed) for pack in _copy_fields(buffer)]
    line_items = np.concatenate(packs) if packs else np.zeros(0, dtype=packed)
    return (
        line_items["order"].astype(np.int64),
        line_items["time"].astype(np.int64) + _PG_EPOCH_US,
        line_items["variant"].astype(np.int64),
    )


def _copy_fields(buffer: bytearray) -> Iterator[memoryview]:
    """The single field of each row of a binary COPY (header: signature, flags, extension)."""
    if not buffer.startswith(_PG_COPY_SIGNATURE):
        raise RuntimeError("COPY did not return PostgreSQL's binary format")
    view = memoryview(buffer)
    at = len(_PG_COPY_SIGNATURE) + 8 + int.from_bytes(buffer[15:19], "big")
    while (fields := int.from_bytes(view[at : at + 2], "big", signed=True)) != -1:  # -1: the trailer
        size = int.from_bytes(view[at + 2 : at + 6], "big", signed=True)
        if fields != 1 or size < 0:
            raise RuntimeError("unexpected row in the line items' COPY")
        yield view[at + 6 : at + 6 + size]
        at += 6 + size


def _fetch_line_items(shop_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same three columns from any other database, fetched in large batches."""
    import numpy as np

    from posai_app.reco.times import time_keys

    result = db.session.execute(
        trainable_line_items(
            shop_id,
            OrderLineItem.order_id,
            # The stored text as the ORM would parse it (SQLite keeps naive UTC ISO strings).
            sa.type_coerce(OrderLineItem.created_at, sa.String),
            OrderLineItem.variant_id,
        ).execution_options(stream_results=True)
    )
    orders, times, variants = [], [], []
    while batch := result.fetchmany(FETCH_BATCH):
        order_ids, created, variant_ids = zip(*batch, strict=True)
        orders.append(np.array(order_ids, dtype=np.int64))
        times.append(np.array(time_keys(created), dtype=np.int64))
        variants.append(np.array(variant_ids, dtype=np.int64))
    if not orders:
        return tuple(np.zeros(0, dtype=np.int64) for _ in range(3))
    return np.concatenate(orders), np.concatenate(times), np.concatenate(variants)


def history_from_line_items(orders: np.ndarray, times: np.ndarray, variants: np.ndarray) -> History:
    """History of line items sorted as `trainable_line_items` sorts them: consecutive rows of one
    order id form a basket timed by its first row; a variant repeated within it counts once (first
    place kept), as in `iter_orders`."""
    import numpy as np

    from posai_app.reco.stats import History

    n = len(orders)
    starts = np.flatnonzero(np.r_[True, orders[1:] != orders[:-1]]) if n else np.zeros(0, dtype=np.int64)
    basket = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    # Repeats: sort by (basket, variant) stably; a row equal to the one before it is a repeat.
    by_pair = np.lexsort((variants, basket))
    repeat = np.zeros(n, dtype=bool)
    if n:
        same = (basket[by_pair][1:] == basket[by_pair][:-1]) & (
            variants[by_pair][1:] == variants[by_pair][:-1]
        )
        repeat[by_pair[1:][same]] = True
    basket, variants = basket[~repeat], variants[~repeat]
    lengths = np.bincount(basket, minlength=len(starts))
    # Rows come sorted by created_at, so baskets (timed by their first row) are already in
    # History's order: the stable sort by time would leave them where they are.
    basket_times = times[starts]
    # Vocabulary in order of first appearance, as History builds it from baskets.
    unique, first, position = np.unique(variants, return_index=True, return_inverse=True)
    by_first = np.argsort(first, kind="stable")
    rank = np.empty(len(unique), dtype=np.int64)
    rank[by_first] = np.arange(len(unique))
    ids = [str(v) for v in unique[by_first].tolist()]
    return History.from_parts(ids, lengths, rank[position.ravel()], basket_times, has_times=True)

"""Orders in, baskets out: the engine's input type, the CSV reader and the time split."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain, islice
from typing import NamedTuple

from posai_app.reco.times import (
    TimeValueError,
    created_at_keys,
    is_missing,
    moment_of,
    parse_time,
    time_key,
    time_keys,
)

__all__ = ["parse_time", "time_key", "time_keys"]  # re-exported: callers import them from here

CSV_COLUMNS = ("order_id", "created_at", "variant_id", "product_title", "price", "quantity")
TRAIN_SHARE = 0.8


class Order(NamedTuple):
    """One order: id, creation time and variant ids in line-item order.

    created_at is a datetime, a string in one of the spellings `parse_time` reads, or None / ""
    when the export has no time for the order (it then sorts first, as in the reference).
    """

    order_id: str
    created_at: datetime | str | None
    variant_ids: Sequence[str]


class OrdersFileError(Exception):
    """An orders file that cannot be read: missing, wrong header, unparsable row."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _read_text(path: str) -> str:
    """The whole file as text (gzip inflated in one call: much faster than a line-by-line stream)."""
    with open(path, "rb") as handle:
        raw = handle.read()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8-sig")


def _rows(text: str) -> tuple[Iterator[list[str]], Callable[[int], int]]:
    """CSV records of the text (header first) and a function from record index to line number.

    Files without quotes or bare carriage returns (the common case) are split directly, which
    gives the same records as the csv module; anything else goes through the csv module.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    if '"' in text or "\r" in text:
        reader = csv.reader(io.StringIO(text, newline=""))
        return reader, lambda _index: reader.line_num
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return (line.split(",") if line else [] for line in lines), lambda index: index + 1


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: building millions of small lists and strings (which
    hold no cycles) would otherwise trigger it over and over (~40% of the CSV reading time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@paused_gc()
def load_orders_csv(path: str | os.PathLike) -> list[Order]:
    """Read the common CSV shape (plain or .gz) into orders, in file order of first appearance.

    created_at is a naive UTC datetime, or None for an order the file gives no time.
    """
    path = os.fspath(path)
    grouped = read_grouped_csv(path)
    keys, _ = _keys_of(path, grouped, list(grouped))
    return [
        Order(order_id, None if is_missing(entry[0]) else moment_of(key), list(dict.fromkeys(entry[1:])))
        for (order_id, entry), key in zip(grouped.items(), keys, strict=True)
    ]


def _keys_of(path: str, grouped: dict[str, list[str]], order_ids: list[str]) -> tuple[list[int], bool]:
    """created_at_keys() of these orders' times; a value that is not a time names its line."""
    try:
        return created_at_keys([grouped[order_id][0] for order_id in order_ids])
    except TimeValueError as exc:
        order_id = order_ids[exc.index]
        raise OrdersFileError(
            f"{path}, line {_first_line_of(path, order_id)}: order {order_id}: "
            f"unparsable created_at {exc.value!r} ({exc.reason})"
        ) from None


def _first_line_of(path: str, order_id: str) -> int | str:
    """The line number of the order's first line item (read again: only an error needs it)."""
    rows, line_of = _rows(_read_text(path))
    names = [h.strip() for h in next(rows)]
    column = names.index("order_id")
    for index, row in enumerate(rows, start=1):
        if len(row) > column and row[column] == order_id:
            return line_of(index)
    return "?"


def read_grouped_csv(path: str) -> dict[str, list[str]]:
    """Line items of a CSV in the common shape grouped by order: order id -> [created_at, variant ids...].

    Orders keep the order of their first line; line items without a variant id are dropped.
    """
    if not os.path.isfile(path):
        raise OrdersFileError(f"{path}: no such file")
    grouped: dict[str, list[str]] = {}
    try:
        rows, line_of = _rows(_read_text(path))
        header = next(rows, None)
        if header is None:
            raise OrdersFileError(f"{path}: empty file, expected header {','.join(CSV_COLUMNS)}")
        names = [h.strip() for h in header]
        missing = [c for c in ("order_id", "created_at", "variant_id") if c not in names]
        if missing:
            raise OrdersFileError(
                f"{path}: wrong header {','.join(names)!r}; expected {','.join(CSV_COLUMNS)} "
                f"(missing {', '.join(missing)})"
            )
        i_order, i_time, i_variant = (names.index(c) for c in ("order_id", "created_at", "variant_id"))
        width = max(i_order, i_time, i_variant) + 1
        get = grouped.get
        for index, row in enumerate(rows, start=1):
            if len(row) < width:
                if not row:
                    continue
                raise OrdersFileError(f"{path}, line {line_of(index)}: expected {len(names)} columns")
            entry = get(row[i_order])
            if entry is None:
                entry = grouped[row[i_order]] = [row[i_time]]
            if row[i_variant]:
                entry.append(row[i_variant])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error, zlib.error, gzip.BadGzipFile) as exc:
        raise OrdersFileError(f"{path}: cannot read ({exc})") from exc
    return grouped


@paused_gc()
def load_baskets_csv(path: str | os.PathLike) -> tuple[list[list[str]], list[int], bool]:
    """baskets_by_time() straight from a CSV file, without building Order objects (the CLI's path).

    Only orders with line items are kept, so only their created_at values are read.
    """
    path = os.fspath(path)
    grouped = read_grouped_csv(path)
    kept = [order_id for order_id, entry in grouped.items() if len(entry) > 1]
    keys, has_times = _keys_of(path, grouped, kept)
    baskets = [list(dict.fromkeys(islice(grouped[order_id], 1, None))) for order_id in kept]
    return *_by_time(baskets, keys), has_times


def baskets_by_time(orders: Iterable[Order]) -> tuple[list[list[str]], list[int], bool]:
    """Distinct-item baskets (orders with >= 1 item) stably sorted by created_at, their time keys,
    and whether any of them has a time (orders without one sort first: `created_at_keys`).

    Ids are expected to be strings (History converts other types); None and "" are dropped.
    Raises TimeValueError for a created_at that is not a time.
    """
    baskets, moments = [], []
    for order in orders:
        items = dict.fromkeys(order.variant_ids)
        if None in items or "" in items:
            items.pop(None, None)
            items.pop("", None)
        if items:
            baskets.append(list(items))
            moments.append(order.created_at)
    keys, has_times = created_at_keys(moments)
    return *_by_time(baskets, keys), has_times


def _by_time(baskets: list[list[str]], keys: list[int]) -> tuple[list[list[str]], list[int]]:
    """Baskets and their time keys, stably sorted by key (equal times keep their input order)."""
    order_ = sorted(range(len(baskets)), key=keys.__getitem__)  # sorted() is stable
    return [baskets[i] for i in order_], [keys[i] for i in order_]


def vocabulary(baskets: Sequence[Sequence[str]]) -> tuple[list[str], list[int]]:
    """Distinct ids in order of first appearance, and every basket item's position among them."""
    ids = list(dict.fromkeys(chain.from_iterable(baskets)))
    position = {v: i for i, v in enumerate(ids)}
    return ids, list(map(position.__getitem__, chain.from_iterable(baskets)))


@paused_gc()
def load_history_parts(
    path: str | os.PathLike,
) -> tuple[list[str], list[int], list[int], list[int], bool]:
    """What `History.from_parts` takes, straight from a CSV: ids, basket lengths, item positions,
    time keys, and whether the file has times."""
    baskets, times, has_times = load_baskets_csv(path)
    ids, flat = vocabulary(baskets)
    return ids, [len(items) for items in baskets], flat, times, has_times


def split_point(n: int, train_share: float = TRAIN_SHARE) -> int:
    """Number of training orders out of n: floor(0.8 n), as the reference."""
    return int(n * train_share)

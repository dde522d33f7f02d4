"""Orders in, baskets out: the engine's input type, the CSV reader and the time split."""

from __future__ import annotations

import csv
import gc
import gzip
import io
import os
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from typing import NamedTuple

CSV_COLUMNS = ("order_id", "created_at", "variant_id", "product_title", "price", "quantity")
TRAIN_SHARE = 0.8
_EPOCH = datetime(1970, 1, 1)


class Order(NamedTuple):
    """One order: id, creation time (datetime or ISO-8601 string) and variant ids in line-item order."""

    order_id: str
    created_at: datetime | str
    variant_ids: Sequence[str]


class OrdersFileError(Exception):
    """An orders file that cannot be read: missing, wrong header, unparsable row."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_time(value: datetime | str) -> datetime:
    """A naive UTC datetime for a datetime or ISO-8601 string (aware values are converted to UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).strip())
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def time_key(value: datetime | str) -> int:
    """Microseconds since 1970 (naive times count as UTC): an exact, sortable key."""
    delta = parse_time(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


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
    """Read the common CSV shape (plain or .gz) into orders, in file order of first appearance."""
    path = os.fspath(path)
    orders = []
    for order_id, entry in read_grouped_csv(path).items():
        try:
            moment = parse_time(entry[0])
        except ValueError:
            raise OrdersFileError(_bad_time(path, order_id, entry[0])) from None
        orders.append(Order(order_id, moment, list(dict.fromkeys(entry[1:]))))
    return orders


def _bad_time(path: str, order_id: str, value: str) -> str:
    return f"{path}: order {order_id}: unparsable created_at {value!r} (expected ISO-8601)"


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
def load_baskets_csv(path: str | os.PathLike) -> tuple[list[list[str]], list[int]]:
    """baskets_by_time() straight from a CSV file, without building Order objects (the CLI's path)."""
    path = os.fspath(path)
    grouped = read_grouped_csv(path)
    raw_times = [entry[0] for entry in grouped.values()]
    try:
        keys = time_keys(raw_times)
    except ValueError:
        for order_id, entry in grouped.items():
            try:
                parse_time(entry[0])
            except ValueError:
                raise OrdersFileError(_bad_time(path, order_id, entry[0])) from None
        raise
    baskets, moments = [], []
    for entry, key in zip(grouped.values(), keys, strict=True):
        if len(entry) > 1:
            baskets.append(list(dict.fromkeys(entry[1:])))
            moments.append(key)
    return _by_time(baskets, moments)


# Offset-free ISO-8601 spellings that numpy and datetime.fromisoformat read identically.
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?)?")
VECTORISE_MIN = 50_000  # fewer values are parsed one by one unless numpy is loaded anyway


def time_keys(values: Sequence[datetime | str]) -> list[int]:
    """time_key() for many values; naive datetimes and plain ISO strings convert in one go.

    Whichever way a value goes, it is accepted exactly when datetime.fromisoformat accepts it.
    """
    kinds = set(map(type, values))
    vectorise = len(values) >= VECTORISE_MIN or "numpy" in sys.modules
    if (
        vectorise
        and len(kinds) == 1
        and (
            (datetime in kinds and not any(v.tzinfo is not None for v in values))
            or (str in kinds and all(map(_PLAIN_ISO.fullmatch, values)))
        )
    ):
        import warnings

        import numpy as np

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                keys = np.array(values, dtype="datetime64[us]")
            if not np.isnat(keys).any():
                return keys.astype(np.int64).tolist()
        except (ValueError, TypeError, Warning):
            pass  # e.g. a day that does not exist: time_key() below says which
    return [time_key(v) for v in values]


def baskets_by_time(orders: Iterable[Order]) -> tuple[list[list[str]], list[int]]:
    """Distinct-item baskets (orders with >= 1 item) stably sorted by created_at, with their time keys.

    Ids are expected to be strings (History converts other types); None and "" are dropped.
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
    return _by_time(baskets, time_keys(moments))


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
def load_history_parts(path: str | os.PathLike) -> tuple[list[str], list[int], list[int], list[int]]:
    """What `History.from_parts` takes, straight from a CSV: ids, basket lengths, item positions, times."""
    baskets, times = load_baskets_csv(path)
    ids, flat = vocabulary(baskets)
    return ids, [len(items) for items in baskets], flat, times


def split_point(n: int, train_share: float = TRAIN_SHARE) -> int:
    """Number of training orders out of n: floor(0.8 n), as the reference."""
    return int(n * train_share)

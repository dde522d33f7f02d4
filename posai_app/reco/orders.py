"""Orders in, baskets out: the engine's input type, the CSV reader and the time split."""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
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


def load_orders_csv(path: str | os.PathLike) -> list[Order]:
    """Read the common CSV shape (plain or .gz) into orders, in file order of first appearance."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise OrdersFileError(f"{path}: no such file")
    opener = gzip.open if path.endswith(".gz") else open
    grouped: dict[str, tuple[str, list[str]]] = {}
    try:
        with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
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
            for row in reader:
                if len(row) < width:
                    if not row:
                        continue
                    raise OrdersFileError(f"{path}, line {reader.line_num}: expected {len(names)} columns")
                entry = grouped.get(row[i_order])
                if entry is None:
                    entry = grouped[row[i_order]] = (row[i_time], [])
                if row[i_variant]:
                    entry[1].append(row[i_variant])
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise OrdersFileError(f"{path}: cannot read ({exc})") from exc
    orders = []
    for order_id, (created, items) in grouped.items():
        try:
            moment = parse_time(created)
        except ValueError:
            raise OrdersFileError(
                f"{path}: order {order_id}: unparsable created_at {created!r} (expected ISO-8601)"
            ) from None
        orders.append(Order(order_id, moment, list(dict.fromkeys(items))))
    return orders


def time_keys(values: Sequence[datetime | str]) -> list[int]:
    """time_key() for many values; naive datetimes and offset-free ISO strings convert in one go."""
    kinds = set(map(type, values))
    if len(kinds) == 1 and (
        (datetime in kinds and not any(v.tzinfo is not None for v in values))
        or (str in kinds and not any(("+" in v or v.endswith("Z")) for v in values))
    ):
        import warnings

        import numpy as np

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                return np.array(values, dtype="datetime64[us]").astype(np.int64).tolist()
        except (ValueError, TypeError, Warning):
            pass  # unusual spellings: parse one by one below
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
    keys = time_keys(moments)
    order_ = sorted(range(len(baskets)), key=keys.__getitem__)  # sorted() is stable
    return [baskets[i] for i in order_], [keys[i] for i in order_]


def split_point(n: int, train_share: float = TRAIN_SHARE) -> int:
    """Number of training orders out of n: floor(0.8 n), as the reference."""
    return int(n * train_share)

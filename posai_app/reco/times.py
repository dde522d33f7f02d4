"""Orders' created_at values as exact integer time keys: plain ISO-8601 fast, export spellings, empty.

Read besides everything `datetime.fromisoformat` reads ('2010-12-01T08:26:00', '2010-12-01 08:26',
'2010-12-01T08:26:00.000Z', '2010-12-01 08:26:00 -0500'):
- ISO dates with a one-digit hour or a zone word: '2010-12-01 8:26', '2010-12-01 08:26:00 UTC';
- spreadsheet dates with slashes: '12/1/2010 8:26', '12/01/2010 08:26:00 PM', '12/1/2010'. Whether
  the day or the month comes first is decided once per file: day first if any value's first
  number is above 12, otherwise month first (the US spreadsheet default). A file that needs both
  (one value 13/1/2010, another 1/13/2010) is refused, naming a value of each kind;
- dotted dates, always day first ('01.12.2010 08:26', as European exports write them).
Times without an offset are taken as UTC; offsets are converted to UTC.

Only the standard library is imported at module level (the CLI's forked reader runs before numpy).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1)
# Offset-free ISO-8601 spellings that numpy and datetime.fromisoformat read identically.
_PLAIN_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?)?")
VECTORISE_MIN = 50_000  # fewer values are parsed one by one unless numpy is loaded anyway

_TIME = r"(?:[T ]\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?(?:\s*([AaPp][Mm]))?)?"
_ZONE = r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
_ISO_LOOSE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})" + _TIME + _ZONE, re.IGNORECASE)
_SLASHED = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})" + _TIME + _ZONE, re.IGNORECASE)
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})" + _TIME + _ZONE, re.IGNORECASE)
EXPECTED = "expected ISO-8601 like 2024-01-31T09:30:00, a spreadsheet date like 1/31/2024 9:30, or empty"


class TimeValueError(ValueError):
    """A created_at value that is not a time: its position among the values, the value, why."""

    def __init__(self, index: int, value: object, reason: str) -> None:
        super().__init__(f"created_at {value!r}: {reason}")
        self.index, self.value, self.reason = index, value, reason


def is_missing(value: object) -> bool:
    """No time for this order: None, or an empty or blank string."""
    return value is None or (isinstance(value, str) and not value.strip())


def parse_time(value: datetime | str, day_first: bool = False) -> datetime:
    """A naive UTC datetime for a datetime or a string in one of the spellings above.

    `day_first` says how to read slashed dates such as 3/4/2024 (see `day_first()` for a file's rule).
    """
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = _parse_export(text, day_first)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def time_key(value: datetime | str, day_first: bool = False) -> int:
    """Microseconds since 1970 (naive times count as UTC): an exact, sortable key."""
    delta = parse_time(value, day_first) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def moment_of(key: int) -> datetime:
    """The naive UTC datetime of a time key (the inverse of time_key)."""
    return _EPOCH + timedelta(microseconds=key)


def _parse_export(text: str, day_first: bool) -> datetime:
    match = _ISO_LOOSE.fullmatch(text)
    if match:
        year, month, day = match.group(1, 2, 3)
    elif match := _SLASHED.fullmatch(text):
        first, second, year = match.group(1, 2, 3)
        day, month = (first, second) if day_first else (second, first)
    elif match := _DOTTED.fullmatch(text):
        day, month, year = match.group(1, 2, 3)
    else:
        raise ValueError(EXPECTED)
    hour, minute, second_, fraction, half, zone = match.group(4, 5, 6, 7, 8, 9)
    hour_ = int(hour or 0)
    if half:
        if not 1 <= hour_ <= 12:
            raise ValueError(f"hour {hour_} with {half.upper()}")
        hour_ = hour_ % 12 + (12 if half.upper() == "PM" else 0)
    micro = int((fraction or "0").ljust(6, "0"))
    return datetime(
        int(year), int(month), int(day), hour_, int(minute or 0), int(second_ or 0), micro, _zone(zone)
    )


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text.upper() in ("Z", "UTC", "GMT"):
        return UTC
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
    return timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))


def day_first(values: Sequence[object]) -> bool:
    """The file's rule for slashed dates: day first if any first number is above 12, else month first.

    Raises TimeValueError for a file that has both a first and a second number above 12.
    """
    over_first = over_second = None
    for index, value in enumerate(values):
        if not isinstance(value, str) or "/" not in value:
            continue
        match = _SLASHED.fullmatch(value.strip())
        if match is None:
            continue
        if over_first is None and int(match.group(1)) > 12:
            over_first = index
        if over_second is None and int(match.group(2)) > 12:
            over_second = index
    if over_first is None:
        return False
    if over_second is not None:
        later, earlier = max(over_first, over_second), min(over_first, over_second)
        kind = "day/month" if earlier == over_first else "month/day"
        raise TimeValueError(
            later,
            values[later],
            f"its date order contradicts {values[earlier]!r} ({kind}) in the same file; use one date order",
        )
    return True


def time_keys(values: Sequence[datetime | str]) -> list[int]:
    """time_key() for many values (none missing); naive datetimes and plain ISO strings convert in one go.

    Raises TimeValueError naming the first value that is not a time.
    """
    keys = _vectorised(values)
    if keys is not None:
        return keys
    rule = day_first(values)
    keys = []
    for index, value in enumerate(values):
        try:
            keys.append(time_key(value, rule))
        except (ValueError, TypeError) as exc:
            raise TimeValueError(index, value, str(exc) or EXPECTED) from None
    return keys


def created_at_keys(values: Sequence[datetime | str | None]) -> tuple[list[int], bool]:
    """Time keys for orders' created_at values, and whether any order has a time at all.

    The reference sorts raw strings stably, which puts orders without a time ("") first, in file
    order. Here they get the earliest time key less one microsecond, so the engine's stable sort
    does the same and time keys stay non-decreasing; if no order has a time, every key is 0
    (file order) and the second result is False.
    """
    keys = _vectorised(values)
    if keys is not None:
        return keys, bool(values)
    present = [i for i, v in enumerate(values) if not is_missing(v)]
    if len(present) == len(values):
        return time_keys(values), bool(values)
    if not present:
        return [0] * len(values), False
    try:
        known = time_keys([values[i] for i in present])
    except TimeValueError as exc:
        raise TimeValueError(present[exc.index], exc.value, exc.reason) from None
    keys = [min(known) - 1] * len(values)
    for i, key in zip(present, known, strict=True):
        keys[i] = key
    return keys, True


def _vectorised(values: Sequence[object]) -> list[int] | None:
    """Keys in one numpy call when every value is a naive datetime or a plain ISO string, else None.

    Whichever way a value goes, it gets the same key as time_key() gives it.
    """
    if not (len(values) >= VECTORISE_MIN or "numpy" in sys.modules):
        return None
    kinds = set(map(type, values))
    if len(kinds) != 1 or not (
        (datetime in kinds and not any(v.tzinfo is not None for v in values))
        or (str in kinds and all(map(_PLAIN_ISO.fullmatch, values)))
    ):
        return None
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            keys = np.array(values, dtype="datetime64[us]")
    except (ValueError, TypeError, Warning):
        return None  # e.g. a day that does not exist: time_key() says which
    return None if np.isnat(keys).any() else keys.astype(np.int64).tolist()

"""The input boundary: the few functions that turn untrusted text into the values views use.

Request bodies, query strings, form fields and webhook payloads go through these, so every
view accepts exactly what they document and refuses the rest with the app's 4xx error:

- ids: a JSON integer from 1 to 10¹⁸−1 (an integral number: `5.0` is the integer 5 to JSON
  and JSON Schema), or a string of 1–18 ASCII digits without a leading zero (`"²"` and `"٣"` are digits to
  `str.isdigit()`, not to `int()`), or a Shopify GID of the expected type with such digits;
  so every id fits PostgreSQL's `bigint` and docs/openapi.yaml can say exactly what passes;
- query-string numbers (`query_int`, `query_float`): ASCII digits only (`int()` also takes
  "٣" and "1_000", `float()` takes "nan" and "inf"), within stated bounds, else "not given";
- JSON: nesting at most `MAX_JSON_DEPTH` deep, checked before parsing. Python's decoder
  recurses, so thousands of `[` raise RecursionError, and a few hundred levels parse but
  then cannot be pickled into a job; no Shopify payload or API body comes close. `NaN` and
  `Infinity` are not JSON and are refused;
- text from Shopify (titles, names, SKUs): NUL and the other C0 control characters but tab,
  newline and return are removed (`clean_text`). PostgreSQL refuses a NUL in text, so one bad
  title used to fail its whole batch: the webhook's order was lost after the 200, and every
  catch-up sync failed on that page.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

import orjson

from posai_app.errors import BadRequest, ValidationFailed

MAX_ID = 10**18 - 1  # 18 digits: within PostgreSQL's bigint, and a pattern the spec can state
MAX_JSON_DEPTH = 64

_ID_DIGITS = re.compile(r"[1-9][0-9]{0,17}")
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([1-9][0-9]{0,17})")
# A JSON string (escapes included): removed before counting brackets, since `[` inside a
# string is not nesting. A bare `"` outside a valid string makes the JSON invalid anyway.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_QUERY_INT = re.compile(r"-?[0-9]{1,18}")
_QUERY_FLOAT = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,9})?")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# A BCP 47-like language tag ("en", "fr-CA", "zh-Hant-TW", "pt_BR"): what POS sends as its locale.
_LOCALE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}")


def parse_id(value: Any, gid_type: str | None = None) -> int | None:
    """A positive bigint id from a JSON integer, a digit string or a GID of `gid_type`; else None.

    Booleans are not ids (JSON `true` is an int to Python). Strings are taken exactly as
    sent: callers strip form fields themselves.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float | Decimal):
        value = parse_int(value)
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if not isinstance(value, str):
        return None
    text = value
    if match := _GID.fullmatch(text):
        if gid_type is not None and match.group(1) != gid_type:
            return None
        text = match.group(2)
    return int(text) if _ID_DIGITS.fullmatch(text) else None


def parse_locale(value: Any) -> str | None:
    """A language tag such as "fr-CA" (ASCII letters and digits, at most 44 characters); else None."""
    if not isinstance(value, str) or len(value) > 44 or not _LOCALE.fullmatch(value):
        return None
    return value


def parse_int(value: Any) -> int | None:
    """A JSON integer (integral numbers included, booleans not) as an int; else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, int):
        return value
    try:
        whole = int(value)
    except (OverflowError, ValueError):
        return None
    return whole if whole == value else None


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), without recursion."""
    structure = _JSON_STRING.sub(b"", raw)
    steps = (1 if c in b"[{" else -1 for c in _BRACKETS.findall(structure))
    return max(accumulate(steps, initial=0))


def parse_json(
    raw: bytes, what: str = "Body", max_depth: int = MAX_JSON_DEPTH, exact_numbers: bool = False
) -> Any:
    """Decode a JSON body; BadRequest (400) naming the problem when it is not acceptable JSON.

    exact_numbers: decimals become Decimal, so an integral `3083458.0` is exactly 3083458.
    """
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw) > max_depth:
        raise BadRequest(f"{what} nests arrays/objects more than {max_depth} levels deep")
    try:
        return json.loads(
            raw or b"null",
            parse_constant=_refuse_constant,
            parse_float=Decimal if exact_numbers else float,
        )
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"{what} is not valid JSON", {"reason": str(exc)[:200]}) from None


def check_json_object(raw: bytes, what: str = "Body", max_depth: int = MAX_JSON_DEPTH) -> None:
    """That `raw` is a JSON object `parse_json` accepts, for a view that only forwards the bytes
    (the webhook endpoint: its job parses them with `parse_json`). BadRequest otherwise.

    orjson decides most bodies several times faster than `json`: what orjson accepts, `json`
    accepts as the same structure (orjson turns integers past 64 bits into floats, which only
    matters to a caller that keeps the values), and what it refuses (NaN, lone surrogates, a BOM,
    1e400) is decided by `parse_json` itself. Depth is read off the parsed structure, which is
    cheaper than scanning the text for brackets (`json_depth`)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = parse_json(raw, what=what, max_depth=max_depth)
    else:
        if raw.count(b"[") + raw.count(b"{") > max_depth and _nesting_exceeds(value, max_depth):
            raise BadRequest(f"{what} nests arrays/objects more than {max_depth} levels deep")
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")


def _nesting_exceeds(value: Any, max_depth: int) -> bool:
    """Whether a parsed JSON value nests arrays/objects more than max_depth deep (breadth-first)."""
    level = [value] if isinstance(value, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def clean_text(value: str) -> str:
    """`value` without NUL and the C0 control characters other than tab, newline and return."""
    return _CONTROL.sub("", value) if _CONTROL.search(value) else value


def parse_ids(values: list[str], field: str, limit: int = 100) -> list[int]:
    """Numeric Shopify ids from form values (GIDs accepted), deduplicated in order; 422 otherwise."""
    out: list[int] = []
    for raw in values:
        text = str(raw).strip()
        if not text:
            continue
        value = parse_id(text)
        if value is None:
            raise ValidationFailed(f"{str(raw)[:40]!r} is not a valid id", details={field: str(raw)[:40]})
        if value not in out:
            out.append(value)
    if len(out) > limit:
        raise ValidationFailed(f"At most {limit} ids are allowed", details={field: len(out)})
    return out


def query_int(value: str | None, low: int = 0, high: int = MAX_ID) -> int | None:
    """An optional query-string integer: ASCII digits within [low, high], else None (not given)."""
    if value is None or not _QUERY_INT.fullmatch(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


def query_float(value: str | None, low: float = 0.0, high: float = 1e12) -> float | None:
    """An optional query-string decimal (e.g. epoch seconds): ASCII digits within [low, high], else None."""
    if value is None or not _QUERY_FLOAT.fullmatch(value):
        return None
    number = float(value)
    return number if low <= number <= high else None

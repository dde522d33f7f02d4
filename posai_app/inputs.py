"""The input boundary: the few functions that turn untrusted text into the values views use.

Request bodies, query strings, form fields and webhook payloads go through these, so every
view accepts exactly what they document and refuses the rest with the app's 4xx error:

- ids: ASCII digits only (`"²"` and `"٣"` are digits to `str.isdigit()`, not to `int()`),
  or a Shopify GID of the expected type, from 1 to 2⁶³−1 (PostgreSQL `bigint`);
- JSON: nesting at most `MAX_JSON_DEPTH` deep, checked before parsing. Python's decoder
  recurses, so thousands of `[` raise RecursionError, and a few hundred levels parse but
  then cannot be pickled into a job; no Shopify payload or API body comes close.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from posai_app.errors import BadRequest

MAX_ID = 2**63 - 1
MAX_JSON_DEPTH = 64

_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
_GID = re.compile(r"gid://shopify/([A-Za-z]+)/([0-9]{1,19})")
# A JSON string (escapes included): removed before counting brackets, since `[` inside a
# string is not nesting. A bare `"` outside a valid string makes the JSON invalid anyway.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def parse_id(value: Any, gid_type: str | None = None) -> int | None:
    """A positive bigint id from an int, an ASCII-digit string or a GID of `gid_type`; else None.

    Booleans are not ids (JSON `true` is an int to Python). Surrounding blanks are ignored.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if match := _GID.fullmatch(text):
        if gid_type is not None and match.group(1) != gid_type:
            return None
        text = match.group(2)
    if not _ASCII_DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), without recursion."""
    structure = _JSON_STRING.sub(b"", raw)
    steps = (1 if c in b"[{" else -1 for c in _BRACKETS.findall(structure))
    return max(accumulate(steps, initial=0))


def parse_json(raw: bytes, what: str = "Body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode a JSON body; BadRequest (400) naming the problem when it is not acceptable JSON."""
    if raw.count(b"[") + raw.count(b"{") > max_depth and json_depth(raw) > max_depth:
        raise BadRequest(f"{what} nests arrays/objects more than {max_depth} levels deep")
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadRequest(f"{what} is not valid JSON", {"reason": str(exc)[:200]}) from None

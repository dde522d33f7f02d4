"""Shopify global ids (GIDs) at the edge: "gid://shopify/ProductVariant/123" <-> 123."""

from __future__ import annotations

_PREFIX = "gid://shopify/"


def to_gid(resource: str, numeric_id: int | str) -> str:
    """The GID of a numeric id, e.g. to_gid("Order", 5) -> "gid://shopify/Order/5"."""
    return f"{_PREFIX}{resource}/{int(numeric_id)}"


def from_gid(gid: str | int | None) -> int | None:
    """The numeric legacy id of a GID (or of an already-numeric id); None stays None.

    Query strings some GIDs carry ("gid://shopify/LineItem/1?x=y") are ignored.
    """
    if gid is None:
        return None
    if isinstance(gid, int):
        return gid
    text = str(gid)
    if text.startswith(_PREFIX) and "?" not in text:  # the common case, kept fast for bulk files
        tail = text[text.rfind("/") + 1 :]
        if tail.isdigit():
            return int(tail)
    if text.isdigit():
        return int(text)
    if not text.startswith(_PREFIX):
        raise ValueError(f"not a Shopify GID: {text!r}")
    tail = text.rsplit("/", 1)[-1].split("?", 1)[0]
    if not tail.isdigit():
        raise ValueError(f"not a numeric Shopify GID: {text!r}")
    return int(tail)


def gid_resource(gid: str) -> str:
    """The resource type of a GID ("gid://shopify/Order/5" -> "Order")."""
    if not gid.startswith(_PREFIX):
        raise ValueError(f"not a Shopify GID: {gid!r}")
    return gid[len(_PREFIX) :].split("/", 1)[0]

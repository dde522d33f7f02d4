"""Bulk operations: start a bulk query, poll it, stream its JSONL and join children to parents.

Shopify writes a bulk query's result as JSONL: one object per line, nested connections
flattened, each child line carrying `__parentId` and listed after its parent. We stream
the file line by line and keep only a small window of open parents, so memory stays flat
however many orders a shop has.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from posai_app.shopify import queries
from posai_app.shopify.client import AdminClient, ShopifyError, ShopifyUserError, raise_for_user_errors

log = logging.getLogger(__name__)

FINISHED = {"COMPLETED", "FAILED", "CANCELED", "EXPIRED"}


class BulkOperationFailed(ShopifyError):
    """A bulk operation ended in FAILED / CANCELED / EXPIRED."""


class BulkOperationTimeout(ShopifyError):
    retriable = True


# bulkOperationRunQuery's userErrors codes that mean "later", not "never": another bulk query
# of this app is running (one at a time before 2026-01) or the shop's concurrent limit is
# reached (several from 2026-01). BulkOperationUserErrorCode in the Admin schema.
BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})


def start_bulk_query(
    client: AdminClient,
    inner_query: str,
    *,
    wait_for_other: float = 3600.0,
    poll_interval: float = 2.0,
    max_interval: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Start a bulk query; while Shopify says other bulk queries keep it busy, wait and retry.

    Busy is recognised by `userErrors.code`, never by message text. The running operations
    need not be ours to look up: waiting with a growing interval (each try costs 10 points)
    until one finishes is enough.
    """
    deadline = time.monotonic() + wait_for_other
    interval = poll_interval
    while True:
        data = client.execute(
            queries.RUN_BULK_QUERY, {"query": inner_query}, operation="BulkOperationRunQuery"
        )
        try:
            result = raise_for_user_errors(data.get("bulkOperationRunQuery"), "bulkOperationRunQuery")
        except ShopifyUserError as exc:
            codes = {e.get("code") for e in exc.user_errors}
            if not codes & BUSY_CODES or time.monotonic() > deadline:
                raise
            log.info(
                "shopify %s: bulk query busy (%s); retrying in %.1fs", client.shop_domain, codes, interval
            )
            sleep(interval)
            interval = min(max_interval, interval * 1.5)
            continue
        return result["bulkOperation"]


def get_bulk_operation(client: AdminClient, operation_id: str) -> dict | None:
    data = client.execute(queries.BULK_OPERATION, {"id": operation_id}, operation="BulkOperation")
    return data.get("bulkOperation")


def wait_for_bulk_operation(
    client: AdminClient,
    operation_id: str,
    *,
    poll_interval: float = 2.0,
    max_interval: float = 30.0,
    timeout: float = 6 * 3600.0,
    on_poll: Callable[[dict], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll until the operation finishes; returns it when COMPLETED, raises otherwise."""
    deadline = time.monotonic() + timeout
    interval = poll_interval
    while True:
        operation = get_bulk_operation(client, operation_id)
        if operation is None:
            raise BulkOperationFailed(f"bulk operation {operation_id} not found")
        if on_poll is not None:
            on_poll(operation)
        status = operation.get("status")
        if status == "COMPLETED":
            return operation
        if status in FINISHED:
            raise BulkOperationFailed(
                f"bulk operation {operation_id} ended {status} (errorCode={operation.get('errorCode')})"
            )
        if time.monotonic() > deadline:
            raise BulkOperationTimeout(f"bulk operation {operation_id} still {status} after {timeout:.0f}s")
        sleep(interval)
        interval = min(max_interval, interval * 1.5)


def iter_jsonl(lines: Iterable[str | bytes], *, skip: int = 0) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line; the first `skip` lines are not parsed."""
    for number, line in enumerate(lines):
        if number < skip or not line:
            continue
        yield number, json.loads(line)


@dataclass
class Group:
    """A parent object with its children, and the line from which a resumed read must start."""

    parent: dict
    children: list[dict] = field(default_factory=list)
    first_line: int = 0
    resume_line: int = 0


def join_children(
    objects: Iterable[tuple[int, dict]], *, window: int = 64, on_orphan: Callable[[dict], None] | None = None
) -> Iterator[Group]:
    """Group JSONL objects into parents with their `__parentId` children, streaming.

    Children come after their parent, usually right after it; up to `window` parents stay
    open so children listed a little later still join. `resume_line` of each group is a
    line before which every line belongs to an already-yielded group.
    """
    open_groups: OrderedDict[str, Group] = OrderedDict()
    last_line = -1

    def emit_oldest(next_line: int) -> Group:
        _, group = open_groups.popitem(last=False)
        group.resume_line = min([g.first_line for g in open_groups.values()] + [next_line])
        return group

    for number, obj in objects:
        last_line = number
        parent_id = obj.pop("__parentId", None)
        if parent_id is None:
            open_groups[obj["id"]] = Group(parent=obj, first_line=number)
            while len(open_groups) > window:
                yield emit_oldest(number)
            continue
        group = open_groups.get(parent_id)
        if group is None:
            log.warning(
                "bulk JSONL: child %s of %s arrived after its parent was closed", obj.get("id"), parent_id
            )
            if on_orphan is not None:
                on_orphan(obj)
            continue
        group.children.append(obj)
    while open_groups:
        yield emit_oldest(last_line + 1)

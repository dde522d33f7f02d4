"""Bulk operations: start a bulk query, poll it, and read its JSONL with children joined to parents.

Shopify writes a bulk query's result as JSONL: one object per line, nested connections
flattened, each child line carrying `__parentId`. A child always comes after its parent, but
from Admin API 2026-01 (`groupObjects` defaults to false) not necessarily right after it: it
can be anywhere later in the file. `Spool` therefore stores the streamed file in a temporary
SQLite file on disk and reads it back as parents with all their children, so memory stays
flat whatever the file's size and order (docs/ingestion.md, "Reading bulk files").
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

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


def loads(text: str | bytes) -> Any:
    """One JSON document, parsed by orjson (several times faster than `json` on bulk lines).

    orjson refuses a few things Python's `json` reads (NaN, integers beyond 64 bits, lone
    UTF-16 surrogates in escapes); such a line is read by `json`, so nothing that parsed
    before fails now.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def iter_jsonl(lines: Iterable[str | bytes], *, skip: int = 0) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-empty line; the first `skip` lines are not parsed."""
    for number, line in enumerate(lines):
        if number < skip or not line:
            continue
        yield number, loads(line)


# A bulk line as Shopify writes it: its own `id` first and, for a child, `__parentId` last. Inside
# a JSON string every quote is escaped, so `"__parentId"` followed by a quote can only be a key.
_FIRST_ID = re.compile(r'\{\s*"id"\s*:\s*"([^"\\]*)"')
_LAST_PARENT = re.compile(r'"__parentId"\s*:\s*"([^"\\]*)"\s*\}\s*$')
_ANY_ID = re.compile(r'"id"\s*:\s*"([^"\\]*)"')  # every object's id in a line, nested ones too


def _gid_type(gid: str) -> str:
    """ "gid://shopify/InventoryItem/7" -> "gid://shopify/InventoryItem/" (the whole id if no type)."""
    head, slash, _ = gid.rpartition("/")
    return head + slash if head else gid


def line_keys(line: str | bytes) -> dict:
    """The `id` and `__parentId` of a line, all the spool needs to route it, read without
    parsing the whole line when it has Shopify's layout (the line is parsed otherwise)."""
    if type(line) is str:
        first = _FIRST_ID.match(line)
        if first is not None:
            if '"__parentId"' not in line:
                return {"id": first.group(1)}
            last = _LAST_PARENT.search(line)
            if last is not None:
                return {"id": first.group(1), "__parentId": last.group(1)}
    return loads(line)


@dataclass
class Group:
    """A parent object with all of its children (in file order) and its place in the file."""

    parent: dict
    children: list[dict] = field(default_factory=list)
    position: int = 0  # rank among the file's parents, 0-based: the resume key
    first_line: int = 0  # the parent's line number


_SCHEMA = """
CREATE TABLE parents (position INTEGER PRIMARY KEY, line INTEGER NOT NULL, gid TEXT, body TEXT NOT NULL);
CREATE TABLE children (line INTEGER PRIMARY KEY, parent_gid TEXT NOT NULL, gid TEXT, body TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
# 2: children keep their own gid (grandchildren join them); 3: lines naming an object embedded in
# a child are joined to it (finish). Spools of an older format are downloaded and read again.
SPOOL_FORMAT = 3
_NOT_A_CHILD = " FROM children c WHERE NOT EXISTS (SELECT 1 FROM parents p WHERE p.gid = c.parent_gid)"
_ORPHANS = (
    " FROM children c WHERE NOT EXISTS (SELECT 1 FROM parents p WHERE p.gid = c.parent_gid)"
    " AND NOT EXISTS (SELECT 1 FROM children o WHERE o.gid = c.parent_gid)"
)
_INSERT_BUFFER = 5000  # rows per executemany


class Spool:
    """One bulk file's lines in an on-disk SQLite store, read back as `Group`s in parent order.

    Two levels of nesting, the most a bulk query may have: a child's `__parentId` names a
    top-level object, a grandchild's names a child (products > variants > inventory levels);
    a group's grandchildren are listed under their child's `__children`, in file order. A line
    whose parent is in neither (an unknown id) joins nothing; `orphans` counts them and
    `finish` logs it.
    """

    def __init__(self, path: str):
        self.path = path
        # check_same_thread off: the sync reads a spool from a thread of its own (one at a time).
        self._db = sqlite3.connect(path, check_same_thread=False)
        # A spool is a cache we can always rebuild, so durability is traded for speed; SQLite
        # spills to the file beyond `cache_size`, which keeps our memory flat.
        self._db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-8192;")
        tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            self._db.executescript(_SCHEMA)
        self.lines = self._meta("lines")
        self.parents = self._db.execute("SELECT count(*) FROM parents").fetchone()[0]
        self.complete = bool(self._meta("complete"))
        self.orphans = self._meta("orphans")
        self.nested = self._meta("nested")
        if "meta" not in tables:
            self._set_meta(format=SPOOL_FORMAT)
            self._db.commit()

    @classmethod
    def create(cls, directory: str | None = None, prefix: str = "posai-bulk-") -> Spool:
        """A new, empty spool in a temporary file (`directory`, else the system's temp dir)."""
        handle, path = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=directory)
        os.close(handle)
        return cls(path)

    @classmethod
    def open_complete(cls, path: str) -> Spool | None:
        """A spool written to the end earlier (e.g. by the run a job continues), else None."""
        if not os.path.exists(path):
            return None
        try:
            spool = cls(path)
        except sqlite3.DatabaseError:
            return None
        if spool.complete and spool._meta("format") == SPOOL_FORMAT:
            return spool
        spool.close()
        return None

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _set_meta(self, **values: int) -> None:
        self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values.items())

    def write(
        self,
        lines: Iterable[str | bytes],
        *,
        progress_every: int = 2000,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Store a file's lines (from its first line on), committing every `progress_every` lines."""
        self.write_objects(
            ((number, line_keys(line), line) for number, line in enumerate(lines) if line),
            progress_every=progress_every,
            on_progress=on_progress,
        )

    def write_objects(
        self,
        objects: Iterable[tuple[int, dict, str | bytes | None]],
        *,
        progress_every: int = 2000,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Store (line number, object, raw line or None) triples; the raw line saves a re-encode."""
        parents: list[tuple] = []
        children: list[tuple] = []
        count = self.lines

        def flush() -> None:
            self._db.executemany("INSERT INTO parents VALUES (?, ?, ?, ?)", parents)
            self._db.executemany("INSERT INTO children VALUES (?, ?, ?, ?)", children)
            parents.clear()
            children.clear()

        for number, obj, raw in objects:
            body = raw.decode() if isinstance(raw, bytes) else raw
            parent_id = obj.get("__parentId")
            if parent_id is None:
                parents.append((self.parents, number, obj.get("id"), body or json.dumps(obj)))
                self.parents += 1
            else:
                children.append((number, parent_id, obj.get("id"), body or json.dumps(obj)))
            count = number + 1
            if len(parents) + len(children) >= _INSERT_BUFFER:
                flush()
            if count - self.lines >= progress_every:
                flush()
                self._commit_lines(count, on_progress)
        flush()
        self._commit_lines(count, on_progress)

    def _commit_lines(self, count: int, on_progress: Callable[[int], None] | None) -> None:
        self._set_meta(lines=count)
        self._db.commit()
        self.lines = count
        if on_progress is not None:
            on_progress(count)

    def finish(self) -> None:
        """Index the stored lines for reading and mark the spool complete."""
        self._db.executescript(
            "CREATE INDEX IF NOT EXISTS parents_by_gid ON parents (gid);"
            "CREATE INDEX IF NOT EXISTS children_by_parent ON children (parent_gid, line);"
        )
        not_children = self._db.execute("SELECT count(*)" + _NOT_A_CHILD).fetchone()[0]
        if not_children:  # grandchildren, or lines of an unknown parent
            self._db.execute("CREATE INDEX IF NOT EXISTS children_by_gid ON children (gid)")
            self.orphans = self._db.execute("SELECT count(*)" + _ORPHANS).fetchone()[0]
            if self.orphans and self._join_to_embedding_children():
                self.orphans = self._db.execute("SELECT count(*)" + _ORPHANS).fetchone()[0]
        else:
            self.orphans = 0
        self.nested = not_children - self.orphans
        if self.orphans:
            log.warning(
                "bulk JSONL: skipped %d of %d lines: their parent is no object of the file",
                self.orphans,
                self.lines,
            )
        self._set_meta(complete=1, orphans=self.orphans, nested=self.nested)
        self._db.commit()
        self.complete = True

    def _join_to_embedding_children(self) -> int:
        """Join lines whose `__parentId` names an object embedded in a child line to that child.

        Shopify documents `__parentId` as the parent object's id. For a connection inside a
        plain object of a node (`variants > inventoryItem { inventoryLevels }`) that can be the
        line's node (the variant: how the reader joins) or the embedded object (the
        InventoryItem). Left unjoined, a variant would read as stocked nowhere, and the sync
        deletes the levels it no longer lists. An id embedded in several children is left alone.
        Returns the number of lines joined (only orphans' lines are looked at: 0 otherwise).
        """
        wanted = {gid for (gid,) in self._db.execute("SELECT DISTINCT c.parent_gid" + _ORPHANS)}
        # A missing object of a type the file's own lines have (an order, a variant) is missing,
        # not embedded: nothing to look for, and no scan of every line item for it.
        own = self._db.execute(
            "SELECT (SELECT gid FROM parents LIMIT 1), (SELECT c.gid FROM children c"
            " WHERE EXISTS (SELECT 1 FROM parents p WHERE p.gid = c.parent_gid) LIMIT 1)"
        ).fetchone()
        own_types = {_gid_type(gid) for gid in own if gid}
        wanted = {gid for gid in wanted if _gid_type(gid) not in own_types}
        if not wanted:
            return 0
        # Only lines that embed an object of a wanted type are parsed (Shopify writes `"id":"`,
        # json.dumps `"id": "`).
        types = sorted({_gid_type(gid) for gid in wanted})
        embeds = " OR ".join(
            f'instr(c.body, \'"id":"\' || ?{n}) OR instr(c.body, \'"id": "\' || ?{n})'
            for n in range(1, len(types) + 1)
        )
        owners: dict[str, str | None] = {}
        rows = self._db.execute(
            "SELECT c.gid, c.body FROM children c"  # noqa: S608 (placeholders only: types are bound)
            " WHERE c.gid IS NOT NULL AND EXISTS (SELECT 1 FROM parents p WHERE p.gid = c.parent_gid)"
            f" AND ({embeds})",
            types,
        )
        for child_gid, body in rows:
            for embedded in set(_ANY_ID.findall(body)) & wanted:
                if embedded != child_gid:
                    owners[embedded] = None if embedded in owners else child_gid
        moves = [(owner, gid) for gid, owner in owners.items() if owner is not None]
        self._db.executemany("UPDATE children SET parent_gid = ? WHERE parent_gid = ?", moves)
        return len(moves)

    def groups(self, start: int = 0) -> Iterator[Group]:
        """Each parent from position `start` on, with all of its children, in file order."""
        if not self.complete:
            raise RuntimeError("finish() the spool before reading it")
        if self.nested:
            rows = self._db.execute(
                "SELECT p.position, p.line, p.body, c.line, c.body, g.body FROM parents p"
                " LEFT JOIN children c ON c.parent_gid = p.gid"
                " LEFT JOIN children g ON g.parent_gid = c.gid AND c.gid IS NOT NULL"
                " WHERE p.position >= ? ORDER BY p.position, c.line, g.line",
                (start,),
            )
        else:
            rows = self._db.execute(
                "SELECT p.position, p.line, p.body, c.line, c.body, NULL FROM parents p"
                " LEFT JOIN children c ON c.parent_gid = p.gid"
                " WHERE p.position >= ? ORDER BY p.position, c.line",
                (start,),
            )
        group: Group | None = None
        child_line = None
        for position, line, parent_body, line_of_child, child_body, grandchild_body in rows:
            if group is None or group.position != position:
                if group is not None:
                    yield group
                group = Group(parent=loads(parent_body), position=position, first_line=line)
                child_line = None
            if child_body is not None and line_of_child != child_line:
                child_line = line_of_child
                child = loads(child_body)
                del child["__parentId"]
                group.children.append(child)
            if grandchild_body is not None:
                grandchild = loads(grandchild_body)
                del grandchild["__parentId"]
                group.children[-1].setdefault("__children", []).append(grandchild)
        if group is not None:
            yield group

    def orphan_objects(self) -> Iterator[dict]:
        """The lines `groups` skips: their `__parentId` names no top-level object of the file."""
        for (body,) in self._db.execute("SELECT c.body" + _ORPHANS + " ORDER BY c.line"):
            yield loads(body)

    def close(self) -> None:
        self._db.close()

    def delete(self) -> None:
        """Close and remove the spool's file."""
        self.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            try:
                os.remove(self.path + suffix)
            except FileNotFoundError:
                pass


def join_children(
    objects: Iterable[tuple[int, dict]],
    *,
    directory: str | None = None,
    on_orphan: Callable[[dict], None] | None = None,
) -> Iterator[Group]:
    """Group (line number, object) pairs into parents with their `__parentId` children, wherever they are.

    Spools everything to a temporary file first (a parent is complete only at the end of an
    ungrouped file), then yields in parent order; `on_orphan` gets each line that joins nothing.
    """
    spool = Spool.create(directory)
    try:
        spool.write_objects((number, obj, None) for number, obj in objects)
        spool.finish()
        if on_orphan is not None:
            for orphan in spool.orphan_objects():
                on_orphan(orphan)
        yield from spool.groups()
    finally:
        spool.delete()

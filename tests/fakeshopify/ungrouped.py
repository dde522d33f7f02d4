"""Reorder a grouped bulk JSONL stream the way `groupObjects: false` may write it.

From Admin API 2026-01 a bulk query's file is ungrouped by default: a child line still comes
after its parent, but anywhere after it (https://shopify.dev/changelog/posts/bulk-operations-
group-objects-default-changed-to-false). `ungroup` moves each child a seeded random distance
later: right after the parent, a few parents later, hundreds of parents later, or to the end of
the file, so the same input always gives the same file (a resumed download sees the same lines).
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterable, Iterator

_END = float("inf")


def _delay(rng: random.Random) -> float:
    """How many parents later a child is written (0: before the next parent)."""
    roll = rng.random()
    if roll < 0.25:
        return 0
    if roll < 0.6:
        return rng.randint(1, 5)
    if roll < 0.9:
        return rng.randint(6, 500)
    return _END


def ungroup(lines: Iterable[str], seed: int = 15) -> Iterator[str]:
    """The same lines, each child moved to a seeded random place after its parent."""
    rng = random.Random(seed)
    pending: list[tuple[float, float, int, str]] = []  # (release after parent n, tie-break, seq, line)
    parents = 0
    for seq, line in enumerate(lines):
        if '"__parentId"' not in line or "__parentId" not in json.loads(line):
            while pending and pending[0][0] < parents:
                yield heapq.heappop(pending)[3]
            parents += 1
            yield line
            continue
        # A random tie-break interleaves children of different parents released together.
        heapq.heappush(pending, (parents - 1 + _delay(rng), rng.random(), seq, line))
    while pending:
        yield heapq.heappop(pending)[3]

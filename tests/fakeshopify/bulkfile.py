"""The two forms of a bulk operation's JSONL file, from (parent line, child lines) groups.

Shopify flattens nested connections: each child line carries `__parentId`. Grouped
(`groupObjects: true`, the default before 2026-01) lists a parent's children right after
it. Ungrouped (the default from 2026-01, https://shopify.dev/docs/api/usage/bulk-operations/queries)
only promises that a child comes after its parent: here most follow within a few parents,
some hundreds of parents later and some only at the end of the file, in a deterministic
order (seeded) so a failing test replays.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator

NEAR = 8  # most children come within this many parents
FAR = (50, 500)  # some come this many parents later
FAR_SHARE = 0.08
END_SHARE = 0.01


def grouped(groups: Iterable[tuple[str, list[str]]]) -> Iterator[str]:
    for parent, children in groups:
        yield parent
        yield from children


def ungrouped(groups: Iterable[tuple[str, list[str]]], *, seed: str | int) -> Iterator[str]:
    """Every line once, each child after its parent; memory holds only the delayed children."""
    rng = random.Random(str(seed))
    delayed: list[tuple[int, int, str]] = []  # (due before parent number, order, line)
    at_end: list[str] = []
    order = 0
    number = -1
    for number, (parent, children) in enumerate(groups):
        while delayed and delayed[0][0] <= number:
            yield heapq.heappop(delayed)[2]
        yield parent
        for child in children:
            draw = rng.random()
            if draw < END_SHARE:
                at_end.append(child)
                continue
            if draw < END_SHARE + FAR_SHARE:
                due = number + rng.randint(*FAR)
            else:
                due = number + rng.randint(0, NEAR)
            if due <= number:
                yield child
                continue
            order += 1
            heapq.heappush(delayed, (due, order, child))
    while delayed:
        yield heapq.heappop(delayed)[2]
    rng.shuffle(at_end)
    yield from at_end

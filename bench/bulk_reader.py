"""Bulk JSONL reader: peak memory and speed on millions of ungrouped lines, against parsing alone.

    .venv/bin/python bench/bulk_reader.py [--lines 1000000 3000000] [--children 25]

For each size, two fresh processes read the same synthetic `groupObjects: false` file (order
lines with line-item children placed up to ~900 orders later, and a tail at the very end):
the baseline only `json.loads` every line; the reader spools it (`bulk.Spool`) and yields every
order with all its line items. Lines are generated on the fly, so neither process holds the
file; both timings include formatting the lines, and peak RSS (ru_maxrss) is the process's
own. Flat memory: the reader's peak does not grow with the file, only its spool on disk does.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

STRIDE = 37  # child k of order p is written k * STRIDE orders after it (or at the end)


_ORDER = (
    '{{"id":"gid://shopify/Order/{gid}","name":"#{name}","createdAt":"2011-03-04T12:34:56Z",'
    '"updatedAt":"2011-03-04T12:34:56Z","cancelledAt":null,"currencyCode":"GBP"}}'
)
_LINE_ITEM = (
    '{{"id":"gid://shopify/LineItem/{gid}{k:02d}","quantity":{quantity},"sku":"85{sku:04d}A",'
    '"name":"WHITE HANGING HEART T-LIGHT HOLDER","variant":{{"id":"gid://shopify/ProductVariant/{variant}"}},'
    '"originalUnitPriceSet":{{"shopMoney":{{"amount":"2.55","currencyCode":"GBP"}}}},'
    '"__parentId":"gid://shopify/Order/{gid}"}}'
)


def _order(p: int) -> str:
    return _ORDER.format(gid=5000000000000 + p, name=1000 + p)


def _line_item(p: int, k: int) -> str:
    variant = 41000000000000 + (p * 31 + k) % 4000
    return _LINE_ITEM.format(gid=5000000000000 + p, k=k, quantity=1 + k % 6, sku=p % 9999, variant=variant)


def ungrouped_lines(total: int, children: int) -> Iterator[str]:
    """About `total` lines: every order before its line items, which land anywhere later."""
    orders = max(1, total // (children + 1))
    for i in range(orders):
        yield _order(i)
        for k in range(children):
            p = i - k * STRIDE
            if p >= 0:
                yield _line_item(p, k)
    for k in range(children):  # the children whose place would be past the last order
        for p in range(max(0, orders - k * STRIDE), orders):
            yield _line_item(p, k)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, total: int, children: int) -> dict:
    from posai_app.shopify import bulk

    start_rss = _rss_mb()
    started = time.perf_counter()
    lines = objects = orphans = 0
    disk = 0
    if mode == "baseline":
        for line in ungrouped_lines(total, children):
            json.loads(line)
            lines += 1
        objects = lines
    else:
        with tempfile.TemporaryDirectory() as directory:
            spool = bulk.Spool.create(directory)
            spool.write(ungrouped_lines(total, children))
            spool.finish()
            disk = os.path.getsize(spool.path)
            for group in spool.groups():
                objects += 1 + len(group.children)
            lines, orphans = spool.lines, spool.orphans
            spool.delete()
    seconds = time.perf_counter() - started
    return {
        "mode": mode,
        "lines": lines,
        "objects": objects,
        "orphans": orphans,
        "seconds": seconds,
        "lines_per_s": lines / seconds,
        "start_rss_mb": start_rss,
        "peak_rss_mb": _rss_mb(),
        "spool_mb": disk / 2**20,
    }


def _run(mode: str, total: int, children: int) -> dict:
    out = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, __file__, "--child", mode, "--lines", str(total), "--children", str(children)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--children", type=int, default=25, help="line items per order")
    parser.add_argument("--child", choices=["baseline", "reader"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.lines[0], args.children)))
        return
    header = ("lines", "mode", "lines/s", "seconds", "peak RSS", "at start", "spool")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (10, 9, 10, 8, 9, 9, 8), strict=True)))
    for total in args.lines:
        baseline = _run("baseline", total, args.children)
        reader = _run("reader", total, args.children)
        assert reader["objects"] == reader["lines"] == baseline["lines"], (reader, baseline)
        assert reader["orphans"] == 0, reader
        for row in (baseline, reader):
            print(
                f"{row['lines']:>10,} {row['mode']:>9} {row['lines_per_s']:>10,.0f} {row['seconds']:>8.1f}"
                f" {row['peak_rss_mb']:>6.0f} MB {row['start_rss_mb']:>6.0f} MB"
                f" {row['spool_mb']:>5.0f} MB"
            )
        print(
            f"{'':>10} reader: {reader['seconds'] / baseline['seconds']:.1f}x the parse-only time,"
            f" +{reader['peak_rss_mb'] - baseline['peak_rss_mb']:.0f} MB peak RSS over it"
        )


if __name__ == "__main__":
    main()

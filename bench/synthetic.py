"""Synthetic order histories in the common CSV shape: Zipf popularity, a timestamp per order."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta

import numpy as np

HEADER = "order_id,created_at,variant_id,product_title,price,quantity\n"


def baskets(n_orders: int, n_variants: int, mean_items: float, seed: int = 0, exponent: float = 1.1):
    """Yield (order index, [variant index, ...]) with Zipf-like popularity and 1 + Poisson sizes."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.power(np.arange(1, n_variants + 1), exponent)
    cdf = np.cumsum(weights / weights.sum())
    # A few "themes" make some variants co-occur more than chance, like real shops' bundles.
    themes = rng.permutation(n_variants)
    sizes = 1 + rng.poisson(max(mean_items - 1.0, 0.0), size=n_orders)
    draws = np.searchsorted(cdf, rng.random(int(sizes.sum())))
    neighbour = rng.random(int(sizes.sum())) < 0.3
    start = 0
    for i, size in enumerate(sizes.tolist()):
        items = draws[start : start + size].copy()
        mask = neighbour[start : start + size]
        mask[0] = False
        if mask.any():  # pull some items next to the first one in theme order
            anchor = int(np.flatnonzero(themes == items[0])[0]) if n_variants <= 5000 else items[0]
            items[mask] = themes[(anchor + rng.integers(1, 6, size=int(mask.sum()))) % n_variants]
        start += size
        yield i, list(dict.fromkeys(items.tolist()))


def write_csv(
    path: str, n_orders: int, n_variants: int, mean_items: float, seed: int = 0, exponent: float = 1.1
) -> None:
    """Write a synthetic history (gzipped if the path ends in .gz)."""
    t0 = datetime(2024, 1, 1)
    span = timedelta(days=365)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="") as f:
        f.write(HEADER)
        for i, items in baskets(n_orders, n_variants, mean_items, seed, exponent):
            when = (t0 + span * (i / max(n_orders, 1))).replace(microsecond=0).isoformat()
            f.writelines(f"{i + 1},{when},{100000 + v},item {v},1.00,1\n" for v in items)


def fast_line_items(n_orders: int, n_variants: int, mean_items: float, seed: int = 0, exponent: float = 1.1):
    """Vectorised history for large n: (items per order, variant index per line item) as arrays.

    An order may list a variant twice (readers count it once), as real line items can.
    """
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.power(np.arange(1, n_variants + 1), exponent)
    cdf = np.cumsum(weights / weights.sum())
    sizes = 1 + rng.poisson(max(mean_items - 1.0, 0.0), size=n_orders)
    total = int(sizes.sum())
    draws = np.searchsorted(cdf, rng.random(total))
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    first = draws[starts]
    # 30% of non-first items are "bundle" items: a few places after the order's first item.
    bundle = (rng.random(total) < 0.3) & (np.arange(total) != starts)
    draws[bundle] = (first[bundle] + rng.integers(1, 6, size=int(bundle.sum()))) % n_variants
    return sizes, draws


def fast_baskets(n_orders: int, n_variants: int, mean_items: float, seed: int = 0, exponent: float = 1.1):
    """fast_line_items() as a list of distinct-id baskets (strings)."""
    sizes, draws = fast_line_items(n_orders, n_variants, mean_items, seed, exponent)
    ids = [str(100000 + v) for v in range(n_variants)]
    flat = [ids[v] for v in draws.tolist()]
    out, at = [], 0
    for size in sizes.tolist():
        out.append(list(dict.fromkeys(flat[at : at + size])))
        at += size
    return out

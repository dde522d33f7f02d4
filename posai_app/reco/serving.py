"""The serving policy: what a cart gets, in one place (pure; no Flask, no database).

    pick      the neighbour index's best candidates for the cart (Σ of neighbour scores);
    filter    never a cart item, another variant of a product in the cart (or of a product
              already picked), a non-active or deleted product, a gift card, an excluded
              product, or a tracked `deny` variant with stock ≤ 0;
    fallback  when fewer than `limit` remain: the shop's recent bestsellers (orders in the 90
              days up to its latest order), through the same filters, unless turned off.

`POST /api/recommendations` and the admin preview (posai_app.api.recommendations) call
`recommend` with the shop's cached catalog rows; `posai recommend-batch` calls it with
`every_variant_sellable` (an orders file names no products or stock) and bestsellers computed
from the file by `bestsellers`, the rule the train job publishes (`variant_stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from posai_app.reco.index import NeighborIndex
    from posai_app.reco.stats import History

RECENT_WINDOW = timedelta(days=90)
BESTSELLER_POOL = 200  # bestsellers kept for the fallback
# How many ranked candidates to consider per requested item before falling back.
CANDIDATES_PER_SLOT = 10
MIN_CANDIDATES = 30

MODEL = "model"
BESTSELLERS = "bestsellers"


class Listing(Protocol):
    """What the filters need to know about a variant (the API's catalog rows have it)."""

    product_id: int | str
    status: str
    deleted: bool
    is_gift_card: bool
    inventory_tracked: bool
    inventory_policy: str
    inventory_quantity: int | None


# Variant ids (as the index holds them: strings) -> their listings; unknown ids are absent.
Catalog = Callable[[Sequence[str]], Mapping[str, Listing]]


@dataclass(frozen=True)
class Sellable:
    """A variant that is its own product, active and not stock-limited."""

    product_id: str
    status: str = "active"
    deleted: bool = False
    is_gift_card: bool = False
    inventory_tracked: bool = False
    inventory_policy: str = "continue"
    inventory_quantity: int | None = None


def every_variant_sellable(variant_ids: Sequence[str]) -> dict[str, Sellable]:
    """The catalog of an orders file: every variant sellable, each its own product."""
    return {v: Sellable(product_id=v) for v in variant_ids}


@dataclass(frozen=True)
class Pick:
    variant_id: str
    score: float
    source: str  # MODEL | BESTSELLERS
    listing: Listing


@dataclass(frozen=True)
class Skip:
    variant_id: str
    source: str
    reason: str  # see skip_reason
    listing: Listing | None


@dataclass
class Answer:
    picks: list[Pick] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)  # filled only when explaining

    @property
    def variant_ids(self) -> list[str]:
        return [p.variant_id for p in self.picks]


def skip_reason(
    listing: Listing | None,
    variant_id: str,
    cart: set[str],
    cart_products: set,
    excluded_products: set,
) -> str | None:
    """Why a variant may not be offered, or None if it may."""
    if variant_id in cart:
        return "in_cart"
    if listing is None:
        return "unknown_variant"
    if listing.deleted or listing.status != "active":
        return "inactive"
    if listing.is_gift_card:
        return "gift_card"
    if listing.product_id in excluded_products:
        return "excluded"
    if listing.product_id in cart_products:
        return "same_product"
    if (
        listing.inventory_tracked
        and listing.inventory_policy == "deny"
        and (listing.inventory_quantity or 0) <= 0
    ):
        return "out_of_stock"
    return None


class _Picker:
    """Walks ranked candidates in order, keeping what may be sold, noting why others were skipped."""

    def __init__(self, limit: int, cart: set[str], cart_products: set, excluded: set, explain: bool):
        self.limit, self.cart, self.cart_products, self.excluded = limit, cart, cart_products, excluded
        self.explain = explain
        self.answer = Answer()
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.answer.picks) >= self.limit

    def take(self, candidates: Iterable[tuple[str, float]], source: str, catalog: Mapping[str, Listing]):
        for variant_id, score in candidates:
            if self.full:
                return
            if variant_id in self.seen:
                continue
            self.seen.add(variant_id)
            listing = catalog.get(variant_id)
            reason = skip_reason(listing, variant_id, self.cart, self.cart_products, self.excluded)
            if reason is None:
                self.answer.picks.append(Pick(variant_id, score, source, listing))
                # One variant per product: a second size of the same shirt is not an upsell.
                self.cart_products.add(listing.product_id)
            elif self.explain:
                self.answer.skipped.append(Skip(variant_id, source, reason, listing))


def recommend(
    index: NeighborIndex | None,
    cart: Sequence[str],
    limit: int,
    catalog: Catalog,
    bestsellers: Sequence[tuple[str, float]] = (),
    *,
    fallback: bool = True,
    excluded_products: Iterable = (),
    explain: bool = False,
) -> Answer:
    """Up to `limit` variants for the cart: index picks that pass the filters, then bestsellers.

    `catalog` is asked at most twice: for the model's candidates and the cart together, then
    (only when the model could not fill the answer) for the bestsellers not yet looked at.
    """
    cart = list(dict.fromkeys(cart))
    ranked: list[tuple[str, float]] = []
    if index is not None and cart and limit > 0:
        ranked = index.recommend(cart, max(MIN_CANDIDATES, limit * CANDIDATES_PER_SLOT))
    listings = catalog([v for v, _ in ranked] + cart)
    cart_products = {listings[v].product_id for v in cart if v in listings}
    picker = _Picker(limit, set(cart), cart_products, set(excluded_products), explain)
    picker.take(ranked, MODEL, listings)
    if fallback and not picker.full:
        fresh = [(v, s) for v, s in bestsellers if v not in picker.seen]
        picker.take(fresh, BESTSELLERS, catalog([v for v, _ in fresh]))
    return picker.answer


# --- the bestseller rule (what the train job publishes, what recommend-batch computes) --------


def order_counts(history: History) -> dict[str, int]:
    """Orders per variant over the whole history."""
    import numpy as np

    counts = np.bincount(history.indices, minlength=history.n_variants)
    return {history.ids[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}


def recent_counts(history: History, window: timedelta = RECENT_WINDOW) -> dict[str, int]:
    """Orders per variant in the `window` ending at the shop's latest order (recent bestsellers).

    Anchored at the latest order rather than the wall clock, so a shop whose
    history stopped a while ago still has bestsellers.
    """
    import numpy as np

    if history.n_orders == 0:
        return {}
    since = int(history.times.max()) - window // timedelta(microseconds=1)
    recent = np.repeat(history.times >= since, history.lengths)
    counts = np.bincount(history.indices[recent], minlength=history.n_variants)
    return {history.ids[i]: int(counts[i]) for i in np.flatnonzero(counts).tolist()}


def rank_bestsellers(
    stats: Iterable[tuple[str, int, int]], size: int = BESTSELLER_POOL
) -> tuple[tuple[str, float], ...]:
    """(variant id, recent orders) of the `size` best recent sellers, from (id, orders, recent
    orders) rows: most recent orders first, then most orders, then id (as strings)."""
    ranked = sorted(((str(v), int(c), int(r)) for v, c, r in stats), key=lambda s: (-s[2], -s[1], s[0]))
    return tuple((v, float(recent)) for v, _, recent in ranked[:size] if recent > 0)


def variant_stats(history: History) -> list[tuple[str, int, int]]:
    """(variant id, orders, recent orders) for every variant of the history: the published stats."""
    recent = recent_counts(history)
    return [(v, count, recent.get(v, 0)) for v, count in order_counts(history).items()]


def bestsellers(history: History, size: int = BESTSELLER_POOL) -> tuple[tuple[str, float], ...]:
    """The fallback list for a history, exactly as the API derives it from the published stats."""
    return rank_bestsellers(variant_stats(history), size)

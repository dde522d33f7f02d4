"""The serving policy: what a cart gets, in one place (pure; no Flask, no database).

    pins      first, the merchant's pairings of the cart's products ("pairs with", set on the
              admin page or imported from Search & Discovery), in cart order then the
              merchant's order; each pinned product offers its first variant that passes;
    pick      then the neighbour index's best candidates for the cart (Σ of neighbour scores);
    filter    never a cart item, another variant of a product in the cart (or of a product
              already picked), a non-active or deleted product, a gift card, an excluded
              product (by id, product type, vendor or tag), or a tracked `deny` variant with
              nothing available: at the POS location when one is given and the variant's
              levels are known, else shop-wide (stock ≤ 0);
    fallback  when fewer than `limit` remain: the shop's recent bestsellers (orders in the 90
              days up to its latest order), through the same filters, unless turned off.

Every pick carries a `Reason` built from the shop's own data only: the cart item that added
most to a model pick's score with the number of orders that contain both (the index's
co-count), the cart product a pin belongs to, or the bestseller rule. Wording and languages are
the API's (posai_app.api.reasons).

`POST /api/recommendations` and the admin preview (posai_app.api.recommendations) call
`recommend` with the shop's cached catalog rows; `posai recommend-batch` calls it with
`every_variant_sellable` (an orders file names no products or stock) and bestsellers computed
from the file by `bestsellers`, the rule the train job publishes (`variant_stats`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
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

PINNED = "pinned"
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
    # Available quantity per location id; None when no level of the variant is known.
    levels: Mapping[int, int | None] | None
    product_type: str  # casefolded, "" when unknown
    vendor: str  # casefolded
    tags: frozenset[str]  # casefolded


# Variant ids (as the index holds them: strings) -> their listings; unknown ids are absent.
Catalog = Callable[[Sequence[str]], Mapping[str, Listing]]
# Product ids -> their variant ids (strings), in the order a pin should try them.
ProductVariants = Callable[[Sequence], Mapping[object, Sequence[str]]]


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
    levels: Mapping[int, int | None] | None = None
    product_type: str = ""
    vendor: str = ""
    tags: frozenset[str] = frozenset()


def every_variant_sellable(variant_ids: Sequence[str]) -> dict[str, Sellable]:
    """The catalog of an orders file: every variant sellable, each its own product."""
    return {v: Sellable(product_id=v) for v in variant_ids}


@dataclass(frozen=True)
class Exclusions:
    """What the merchant never wants suggested: products, and every product of a type, vendor or tag.

    Types, vendors and tags match without regard to case (they are stored casefolded here)."""

    products: frozenset = frozenset()
    product_types: frozenset[str] = frozenset()
    vendors: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        products: Iterable = (),
        product_types: Iterable[str] = (),
        vendors: Iterable[str] = (),
        tags: Iterable[str] = (),
    ) -> Exclusions:
        fold = lambda values: frozenset(v.strip().casefold() for v in values if v and v.strip())  # noqa: E731
        return cls(frozenset(products), fold(product_types), fold(vendors), fold(tags))

    def excludes(self, listing: Listing) -> bool:
        return (
            listing.product_id in self.products
            or (bool(self.product_types) and getattr(listing, "product_type", "") in self.product_types)
            or (bool(self.vendors) and getattr(listing, "vendor", "") in self.vendors)
            or (bool(self.tags) and not self.tags.isdisjoint(getattr(listing, "tags", ())))
        )


@dataclass(frozen=True)
class Reason:
    """Why a variant is offered, from the shop's own data.

    kind "bought_with": `variant_id` is the cart item that added most to its score and `count`
    the orders containing both; "pinned": `variant_id` is the cart item whose product the
    merchant paired it with; "bestseller": `count` is its recent orders; "model": a model pick
    whose co-count is not known (no order holds both: never said as "bought with")."""

    kind: str
    variant_id: str | None = None
    count: int | None = None


@dataclass(frozen=True)
class Pick:
    variant_id: str
    score: float
    source: str  # PINNED | MODEL | BESTSELLERS
    listing: Listing
    reason: Reason | None = None


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


def available(listing: Listing, location: int | None) -> int:
    """What may be sold of a variant: at `location` when given and its levels are known
    (a location without a level has nothing), else the shop-wide quantity."""
    levels = getattr(listing, "levels", None)
    if location is not None and levels is not None:
        return levels.get(location) or 0
    return listing.inventory_quantity or 0


def skip_reason(
    listing: Listing | None,
    variant_id: str,
    cart: set[str],
    cart_products: set,
    excluded: Exclusions | Collection,
    location: int | None = None,
) -> str | None:
    """Why a variant may not be offered, or None if it may."""
    if not isinstance(excluded, Exclusions):
        excluded = Exclusions.of(excluded)
    if variant_id in cart:
        return "in_cart"
    if listing is None:
        return "unknown_variant"
    if listing.deleted or listing.status != "active":
        return "inactive"
    if listing.is_gift_card:
        return "gift_card"
    if excluded.excludes(listing):
        return "excluded"
    if listing.product_id in cart_products:
        return "same_product"
    if listing.inventory_tracked and listing.inventory_policy == "deny" and available(listing, location) <= 0:
        return "out_of_stock"
    return None


class _Picker:
    """Walks ranked candidates in order, keeping what may be sold, noting why others were skipped."""

    def __init__(
        self,
        limit: int,
        cart: set[str],
        cart_products: set,
        excluded: Exclusions,
        explain: bool,
        location: int | None,
    ):
        self.limit, self.cart, self.cart_products, self.excluded = limit, cart, cart_products, excluded
        self.explain, self.location = explain, location
        self.answer = Answer()
        self.seen: set[str] = set()

    @property
    def full(self) -> bool:
        return len(self.answer.picks) >= self.limit

    def offer(
        self, variant_id: str, score: float, source: str, listing: Listing | None, reason: Reason | None
    ) -> bool:
        """Keep the variant if it may be sold (True), else note why not."""
        self.seen.add(variant_id)
        why = skip_reason(listing, variant_id, self.cart, self.cart_products, self.excluded, self.location)
        if why is None:
            self.answer.picks.append(Pick(variant_id, score, source, listing, reason))
            # One variant per product: a second size of the same shirt is not an upsell.
            self.cart_products.add(listing.product_id)
            return True
        if self.explain:
            self.answer.skipped.append(Skip(variant_id, source, why, listing))
        return False

    def take(
        self,
        candidates: Iterable[tuple[str, float]],
        source: str,
        catalog: Mapping[str, Listing],
        reason: Callable[[str, float], Reason | None] = lambda _v, _s: None,
    ):
        for variant_id, score in candidates:
            if self.full:
                return
            if variant_id in self.seen:
                continue
            listing = catalog.get(variant_id)
            self.offer(variant_id, score, source, listing, reason(variant_id, score) if listing else None)


def _model_reason(index: NeighborIndex, cart: Sequence[str]) -> Callable[[str, float], Reason]:
    def reason(variant_id: str, _score: float) -> Reason:
        best = index.contribution(cart, variant_id)
        if best is None or best[1] <= 0:
            return Reason("model")
        return Reason("bought_with", variant_id=best[0], count=best[1])

    return reason


def _pinned_candidates(
    cart: Sequence[str],
    listings: Mapping[str, Listing],
    pins: Mapping[object, Sequence],
) -> list[tuple[object, str]]:
    """(pinned product, cart variant it pairs with) in cart order, then the merchant's order."""
    out: list[tuple[object, str]] = []
    done: set = set()
    for variant_id in cart:
        listing = listings.get(variant_id)
        if listing is None or listing.product_id in done:
            continue
        done.add(listing.product_id)
        out.extend((pinned, variant_id) for pinned in pins.get(listing.product_id, ()))
    return out


def recommend(
    index: NeighborIndex | None,
    cart: Sequence[str],
    limit: int,
    catalog: Catalog,
    bestsellers: Sequence[tuple[str, float]] = (),
    *,
    fallback: bool = True,
    excluded_products: Iterable = (),
    exclusions: Exclusions | None = None,
    explain: bool = False,
    location: int | None = None,
    pins: Mapping[object, Sequence] | None = None,
    product_variants: ProductVariants | None = None,
) -> Answer:
    """Up to `limit` variants for the cart: pins, then index picks that pass the filters, then bestsellers.

    `location`: the POS location, already known to be one of the shop's (None: shop-wide stock).
    `pins`: product id -> pinned product ids in order; `product_variants` names their variants.
    `catalog` is asked for the model's candidates and the cart together, then for pinned
    variants and bestsellers not yet looked at, only when they are needed.
    """
    cart = list(dict.fromkeys(cart))
    excluded = exclusions if exclusions is not None else Exclusions.of(excluded_products)
    ranked: list[tuple[str, float]] = []
    if index is not None and cart and limit > 0:
        ranked = index.recommend(cart, max(MIN_CANDIDATES, limit * CANDIDATES_PER_SLOT))
    listings = catalog([v for v, _ in ranked] + cart)
    cart_products = {listings[v].product_id for v in cart if v in listings}
    picker = _Picker(limit, set(cart), cart_products, excluded, explain, location)
    if pins and product_variants is not None and limit > 0:
        _take_pins(picker, cart, listings, pins, product_variants, catalog, dict(ranked))
    if index is not None:
        picker.take(ranked, MODEL, listings, _model_reason(index, cart))
    if fallback and not picker.full:
        fresh = [(v, s) for v, s in bestsellers if v not in picker.seen]
        picker.take(
            fresh,
            BESTSELLERS,
            catalog([v for v, _ in fresh]),
            lambda _v, s: Reason("bestseller", count=int(s)),
        )
    return picker.answer


def _take_pins(
    picker: _Picker,
    cart: Sequence[str],
    listings: Mapping[str, Listing],
    pins: Mapping[object, Sequence],
    product_variants: ProductVariants,
    catalog: Catalog,
    scores: Mapping[str, float],
) -> None:
    candidates = _pinned_candidates(cart, listings, pins)
    if not candidates:
        return
    variants = product_variants(list(dict.fromkeys(p for p, _ in candidates)))
    wanted = [v for p, _ in candidates for v in variants.get(p, ())]
    pinned_listings = {**catalog([v for v in wanted if v not in listings]), **listings}
    for product, cart_variant in candidates:
        if picker.full:
            return
        if product in picker.cart_products:  # in the cart, or already offered
            continue
        for variant_id in variants.get(product, ()):
            if variant_id in picker.seen:
                continue
            reason = Reason("pinned", variant_id=cart_variant)
            listing = pinned_listings.get(variant_id)
            if picker.offer(variant_id, scores.get(variant_id, 0.0), PINNED, listing, reason):
                break


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

"""What the POS gets for a cart: model neighbours, filtered to what can be sold, topped up
with recent bestsellers. The admin page's preview calls the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from posai_app.api.catalog import VariantInfo, catalog_rows
from posai_app.api.serving import serving_state
from posai_app.shops.snapshot import shop_snapshot

# How many ranked candidates to consider per requested item before giving up on the model.
CANDIDATES_PER_SLOT = 10
MIN_CANDIDATES = 30


def skip_reason(
    info: VariantInfo | None,
    cart_ids: set[int],
    cart_products: set[int],
    excluded_products: set[int],
    variant_id: int,
) -> str | None:
    """Why a variant may not be offered, or None if it may."""
    if variant_id in cart_ids:
        return "in_cart"
    if info is None:
        return "unknown_variant"
    if info.deleted or info.status != "active":
        return "inactive"
    if info.is_gift_card:
        return "gift_card"
    if info.product_id in excluded_products:
        return "excluded"
    if info.product_id in cart_products:
        return "same_product"
    if info.inventory_tracked and info.inventory_policy == "deny" and (info.inventory_quantity or 0) <= 0:
        return "out_of_stock"
    return None


def _as_item(info: VariantInfo, score: float, source: str) -> dict:
    return {
        "variantId": str(info.variant_id),
        "score": round(float(score), 6),
        "productId": str(info.product_id),
        "productTitle": info.product_title,
        "variantTitle": info.variant_title or "",
        "price": f"{info.price:.2f}" if info.price is not None else None,
        # null, not 0, when Shopify does not track the stock: the POS extension reads 0 as sold out.
        "inventoryQuantity": int(info.inventory_quantity or 0) if info.inventory_tracked else None,
        "source": source,
    }


class _Picker:
    """Walks ranked candidates in order, keeping what may be sold, noting why others were skipped."""

    def __init__(
        self, limit: int, cart: set[int], cart_products: set[int], excluded: set[int], explain: bool
    ):
        self.limit, self.cart, self.cart_products, self.excluded = limit, cart, set(cart_products), excluded
        self.explain = explain
        self.chosen: list[dict] = []
        self.skipped: list[dict] = []
        self.seen: set[int] = set()

    @property
    def full(self) -> bool:
        return len(self.chosen) >= self.limit

    def take(self, candidates: Iterable[tuple[int, float, str]], catalog: dict[int, VariantInfo]) -> None:
        for variant_id, score, source in candidates:
            if self.full:
                return
            if variant_id in self.seen:
                continue
            self.seen.add(variant_id)
            info = catalog.get(variant_id)
            reason = skip_reason(info, self.cart, self.cart_products, self.excluded, variant_id)
            if reason is None:
                self.chosen.append(_as_item(info, score, source))
                # One variant per product: a second size of the same shirt is not an upsell.
                self.cart_products.add(info.product_id)
            elif self.explain:
                self.skipped.append(
                    {
                        "variantId": str(variant_id),
                        "productTitle": info.product_title if info else "",
                        "variantTitle": (info.variant_title or "") if info else "",
                        "source": source,
                        "reason": reason,
                    }
                )


def recommend_for_cart(
    shop_id: int, cart_variant_ids: Sequence[int], limit: int | None = None, explain: bool = False
) -> dict:
    """The API body for a cart: {"metric", "recommendations": [...]} (+ "skipped" with explain)."""
    shop = shop_snapshot(shop_id)
    if shop is None:  # deleted while the request was on its way
        return {"metric": "popularity", "recommendations": []}
    limit = int(limit or shop.setting("recommendation_limit"))
    excluded = {int(p) for p in shop.setting("excluded_product_ids") or []}
    fallback = bool(shop.setting("bestseller_fallback"))
    state = serving_state(shop_id)
    cart = [int(v) for v in cart_variant_ids]
    cart_set = set(cart)

    ranked: list[tuple[int, float]] = []
    if state.index is not None and cart:
        want = max(MIN_CANDIDATES, limit * CANDIDATES_PER_SLOT)
        ranked = [(int(v), s) for v, s in state.index.recommend([str(v) for v in cart], want)]
    catalog = catalog_rows(shop_id, [v for v, _ in ranked] + cart)
    cart_products = {catalog[v].product_id for v in cart if v in catalog}
    picker = _Picker(limit, cart_set, cart_products, excluded, explain)
    picker.take(((v, s, "model") for v, s in ranked), catalog)
    if fallback and not picker.full:
        # Only when the model could not fill the answer: a second query for bestsellers.
        fresh = [(v, s) for v, s in state.bestsellers if v not in picker.seen]
        catalog = catalog_rows(shop_id, [v for v, _ in fresh])
        picker.take(((v, s, "bestsellers") for v, s in fresh), catalog)
    chosen, skipped = picker.chosen, picker.skipped
    body: dict = {"metric": state.metric, "recommendations": chosen}
    if explain:
        body["skipped"] = skipped
    return body

"""The API body for a cart: the serving policy (posai_app.reco.serving) run on the shop's
cached index, catalog rows, pins and settings. The admin page's preview calls the same function.

Champion–challenger: a cart in the shop's challenger share (posai_app.impact.arms: a keyed hash
of the cart, no state, no SQL) is answered by the same policy on the runner-up's index, and its
recommendationId names the challenger's scorer and arm. No challenger index: the champion answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from posai_app.api import catalog as cached
from posai_app.api.catalog import VariantInfo, catalog_rows
from posai_app.api.reasons import reason_text
from posai_app.api.serving import serving_state
from posai_app.impact import arms, ids
from posai_app.reco.serving import PINNED, Exclusions, Pick, recommend
from posai_app.serving.store import UNTRAINED_METRIC
from posai_app.shops.snapshot import ShopSnapshot, shop_snapshot


def _as_item(pick: Pick, reason: str) -> dict:
    info = pick.listing
    return {
        "variantId": str(info.variant_id),
        "score": round(float(pick.score), 6),
        "productId": str(info.product_id),
        "productTitle": info.product_title,
        "variantTitle": info.variant_title or "",
        "price": f"{info.price:.2f}" if info.price is not None else None,
        # null, not 0, when Shopify does not track the stock: the POS extension reads 0 as sold out.
        "inventoryQuantity": int(info.inventory_quantity or 0) if info.inventory_tracked else None,
        "source": pick.source,
        "reason": reason,
    }


def exclusions_of(shop: ShopSnapshot) -> Exclusions:
    return Exclusions.of(
        {int(p) for p in shop.setting("excluded_product_ids") or []},
        shop.setting("excluded_product_types") or [],
        shop.setting("excluded_vendors") or [],
        shop.setting("excluded_tags") or [],
    )


def recommend_for_cart(
    shop_id: int,
    cart_variant_ids: Sequence[int],
    limit: int | None = None,
    explain: bool = False,
    *,
    location_id: int | None = None,
    locale: str | None = None,
) -> dict:
    """The API body for a cart: {"metric", "recommendations": [...], "recommendationId"} (+ "skipped"
    with explain); the id names this answer (posai_app.impact.ids: signed, no SQL).

    `location_id` (the POS location) only filters stock; one the shop's stock has never been
    seen at is treated as no location (the shop-wide rule).
    """
    shop = shop_snapshot(shop_id)
    if shop is None:  # deleted while the request was on its way
        return {
            "metric": UNTRAINED_METRIC,
            "recommendations": [],
            "recommendationId": _answer_id(shop_id, UNTRAINED_METRIC, 0, cart_variant_ids, []),
        }
    state = serving_state(shop_id)
    rows: dict[str, VariantInfo] = {}

    def catalog(variant_ids: Sequence[str]) -> dict[str, VariantInfo]:
        found = {str(v): info for v, info in catalog_rows(shop_id, map(int, variant_ids)).items()}
        rows.update(found)
        return found

    def product_variants(product_ids: Sequence) -> dict[int, tuple[str, ...]]:
        return {
            p: tuple(map(str, vs))
            for p, vs in cached.product_variant_ids(shop_id, map(int, product_ids)).items()
        }

    location = (
        location_id if location_id is not None and location_id in cached.known_locations(shop_id) else None
    )
    pins = cached.pins(shop_id)
    arm, index, metric = "champion", state.index, state.metric
    share = int(shop.setting("challenger_share") or 0)
    if state.challenger is not None and share > 0:
        key = arms.assignment_key(current_app.config)
        if arms.arm_for(key, shop_id, cart_variant_ids, share) == "challenger":
            arm, index, metric = "challenger", state.challenger.index, state.challenger.metric
    answer = recommend(
        index,
        [str(int(v)) for v in cart_variant_ids],
        int(limit or shop.setting("recommendation_limit")),
        catalog,
        state.bestsellers,
        fallback=bool(shop.setting("bestseller_fallback")),
        exclusions=exclusions_of(shop),
        explain=explain,
        location=location,
        pins=pins,
        product_variants=product_variants,
    )

    def words(pick: Pick) -> str:
        named = rows.get(pick.reason.variant_id) if pick.reason and pick.reason.variant_id else None
        return reason_text(pick.reason, locale, named.product_title if named else None)

    body: dict = {
        "metric": metric,
        "recommendations": [_as_item(p, words(p)) for p in answer.picks],
        "recommendationId": _answer_id(
            shop_id,
            metric,
            state.version[0],
            cart_variant_ids,
            [p.listing.variant_id for p in answer.picks],
            arm=arm,
            pinned=[p.listing.variant_id for p in answer.picks if p.source == PINNED],
        ),
    }
    if explain:
        body["skipped"] = [
            {
                "variantId": s.variant_id,
                "productTitle": s.listing.product_title if s.listing else "",
                "variantTitle": (s.listing.variant_title or "") if s.listing else "",
                "source": s.source,
                "reason": s.reason,
            }
            for s in answer.skipped
        ]
    return body


def _answer_id(
    shop_id: int,
    metric: str,
    model_version,
    cart: Sequence[int],
    items: Sequence[int],
    arm: str = "champion",
    pinned: Sequence[int] = (),
) -> str:
    key = ids.signing_key(current_app.config)
    return ids.mint(key, shop_id, metric, int(model_version or 0), cart, items, arm=arm, pinned=pinned)

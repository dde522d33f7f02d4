"""The API body for a cart: the serving policy (posai_app.reco.serving) run on the shop's
cached index, catalog rows and settings. The admin page's preview calls the same function.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app

from posai_app.api.catalog import VariantInfo, catalog_rows
from posai_app.api.serving import serving_state
from posai_app.impact import ids
from posai_app.reco.serving import recommend
from posai_app.serving.store import UNTRAINED_METRIC
from posai_app.shops.snapshot import shop_snapshot


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


def recommend_for_cart(
    shop_id: int, cart_variant_ids: Sequence[int], limit: int | None = None, explain: bool = False
) -> dict:
    """The API body for a cart: {"metric", "recommendations": [...], "recommendationId"} (+ "skipped"
    with explain); the id names this answer (posai_app.impact.ids: signed, no SQL)."""
    shop = shop_snapshot(shop_id)
    if shop is None:  # deleted while the request was on its way
        return {
            "metric": UNTRAINED_METRIC,
            "recommendations": [],
            "recommendationId": _answer_id(shop_id, UNTRAINED_METRIC, 0, cart_variant_ids, []),
        }
    state = serving_state(shop_id)

    def catalog(variant_ids: Sequence[str]) -> dict[str, VariantInfo]:
        return {str(v): info for v, info in catalog_rows(shop_id, map(int, variant_ids)).items()}

    answer = recommend(
        state.index,
        [str(int(v)) for v in cart_variant_ids],
        int(limit or shop.setting("recommendation_limit")),
        catalog,
        state.bestsellers,
        fallback=bool(shop.setting("bestseller_fallback")),
        excluded_products={int(p) for p in shop.setting("excluded_product_ids") or []},
        explain=explain,
    )
    body: dict = {
        "metric": state.metric,
        "recommendations": [_as_item(p.listing, p.score, p.source) for p in answer.picks],
        "recommendationId": _answer_id(
            shop_id,
            state.metric,
            state.version[0],
            cart_variant_ids,
            [p.listing.variant_id for p in answer.picks],
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


def _answer_id(shop_id: int, metric: str, model_version, cart: Sequence[int], items: Sequence[int]) -> str:
    key = ids.signing_key(current_app.config)
    return ids.mint(key, shop_id, metric, int(model_version or 0), cart, items)

"""The reason a cashier can say aloud, in the POS's language: the serving policy's `Reason`
(posai_app.reco.serving) in words.

Reasons say only what the shop's own data says: how many of its orders hold both items
(the neighbour index's co-count), that the store set the pairing, or that the item sells
well here. `MESSAGES` is the whole catalogue; every language has every key
(tests/api/test_reasons.py). A locale is matched by its language ("fr-CA" → "fr"); any
other locale gets English.
"""

from __future__ import annotations

from posai_app.reco.serving import Reason

DEFAULT_LANGUAGE = "en"

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "bought_with": "Bought with {title} in {count} orders",
        "bought_with_one": "Bought with {title} in 1 order",
        "pinned": "Pairs with {title} (set by the store)",
        "bestseller": "A bestseller in this store",
        "model": "Picked from this store's sales",
    },
    "fr": {
        "bought_with": "Acheté avec {title} dans {count} commandes",
        "bought_with_one": "Acheté avec {title} dans 1 commande",
        "pinned": "Va avec {title} (choix de la boutique)",
        "bestseller": "Un des best-sellers de la boutique",
        "model": "Choisi d'après les ventes de la boutique",
    },
    "de": {
        "bought_with": "Mit {title} in {count} Bestellungen gekauft",
        "bought_with_one": "Mit {title} in 1 Bestellung gekauft",
        "pinned": "Passt zu {title} (vom Geschäft festgelegt)",
        "bestseller": "Ein Bestseller in diesem Geschäft",
        "model": "Aus den Verkäufen dieses Geschäfts ausgewählt",
    },
    "es": {
        "bought_with": "Comprado con {title} en {count} pedidos",
        "bought_with_one": "Comprado con {title} en 1 pedido",
        "pinned": "Combina con {title} (elegido por la tienda)",
        "bestseller": "Uno de los más vendidos de la tienda",
        "model": "Elegido según las ventas de la tienda",
    },
    "nl": {
        "bought_with": "Samen met {title} gekocht in {count} bestellingen",
        "bought_with_one": "Samen met {title} gekocht in 1 bestelling",
        "pinned": "Past bij {title} (gekozen door de winkel)",
        "bestseller": "Een bestseller in deze winkel",
        "model": "Gekozen op basis van de verkopen van deze winkel",
    },
    "ja": {
        "bought_with": "{title}と一緒に{count}件の注文で購入",
        "bought_with_one": "{title}と一緒に1件の注文で購入",
        "pinned": "{title}とよく合います（ストアの設定）",
        "bestseller": "このストアの人気商品",
        "model": "このストアの販売実績から選ばれました",
    },
}


def language(locale: str | None) -> str:
    """The catalogue's language for a locale such as "fr-CA" or "ja"; English when unknown."""
    if not locale:
        return DEFAULT_LANGUAGE
    code = locale.replace("_", "-").split("-", 1)[0].strip().lower()
    return code if code in MESSAGES else DEFAULT_LANGUAGE


def reason_text(reason: Reason | None, locale: str | None, title: str | None = None) -> str:
    """The words for a reason; `title` is the product title of the cart item it names."""
    messages = MESSAGES[language(locale)]
    if reason is None:
        return messages["model"]
    if reason.kind == "bought_with" and reason.count and title:
        key = "bought_with_one" if reason.count == 1 else "bought_with"
        return messages[key].format(title=title, count=f"{reason.count:d}")
    if reason.kind == "pinned" and title:
        return messages["pinned"].format(title=title)
    if reason.kind == "bestseller":
        return messages["bestseller"]
    return messages["model"]
